# The check of a session's inputs before any heavy job (face_rhythm.preflight.check_session):
# every video (missing, empty, corrupt, truncated, blank, of another frame size), the VQT
# window, Nyquist frequency and downsampling against each video, the ROI source, the mesh
# neighbours against the points and the tca section against the tensor it will meet. Every
# problem is reported at once, one line each; the session's videos.tsv is written only when
# all is well, and every rois / track_points job waits for it. They take it as ancient():
# a change of a checked section reruns this light check, not the tracking.


rule video_metadata:
    input:
        videos=session_local_videos,
        rois_file=rois_file,
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
        rois=preflight_rois,
        tracking=config["tracking"],
        tca=config["tca"],
    script:
        "../scripts/video_metadata.py"
