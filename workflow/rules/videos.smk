# Input validation: every video of a session is probed before any long work starts (a missing
# or corrupt file, zero frames, an absurd frame rate, a frame size that differs within the
# session, a video shorter than the VQT window or a frame rate whose Nyquist frequency is
# below vqt.F_max stop the run here, with the file named), and its metadata goes into a table.


rule video_metadata:
    input:
        videos=session_local_videos,
    output:
        table="results/{session}/videos.tsv",
    log:
        "logs/video_metadata/{session}.log",
    benchmark:
        "benchmarks/video_metadata/{session}.tsv"
    conda:
        "../envs/face-rhythm.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
        runtime=10,
    params:
        session="{session}",
        video_ids=session_videos_param,
        videos=session_video_locations,
        fps=session_video_fps,
        backend=config["video_backend"],
        vqt=config["vqt"],
        idx_start=config["tracking"]["idx_start"],
    script:
        "../scripts/video_metadata.py"
