rule track_points:
    input:
        video=video_path,
        rois="results/{session}/rois.h5",
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
        runtime=120,
    params:
        tracking=config["tracking"],
        fps=video_fps,
    script:
        "../scripts/track_points.py"
