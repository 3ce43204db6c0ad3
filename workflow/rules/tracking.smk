rule track_points:
    input:
        unpack(previous_tracking_inputs),
        video=video_path,
        rois="results/{session}/rois.h5",
        metadata=ancient("results/{session}/videos.tsv"),
    output:
        tracking="results/{session}/{video}/tracking.h5",
    log:
        "logs/track_points/{session}/{video}.log",
    benchmark:
        "benchmarks/track_points/{session}/{video}.tsv"
    conda:
        "../envs/face-rhythm.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb(2000),
        # positions are streamed into tracking.h5 in chunks: memory does not grow with the
        # video (bench/bench_tracking.py: same peak RSS for 1 and 10 minutes)
        runtime=tracking_runtime,
    params:
        tracking=config["tracking"],
        fps=video_fps,
        video=video_location,
        previous_video=previous_video_location,
        backend=config["video_backend"],
    script:
        "../scripts/track_points.py"
