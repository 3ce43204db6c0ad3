rule demo_video:
    output:
        video=f"{DEMO_PREFIX}/{{session}}/{{video}}.avi",
    log:
        "logs/demo_video/{session}/{video}.log",
    benchmark:
        "benchmarks/demo_video/{session}/{video}.tsv"
    conda:
        "../envs/face-rhythm.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
        runtime=10,
    params:
        demo=demo_params,
    script:
        "../scripts/demo_video.py"
