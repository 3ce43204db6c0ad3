rule rois:
    input:
        video=first_video_of_session,
        metadata=ancient("results/{session}/videos.tsv"),
        file=rois_file,
    output:
        rois="results/{session}/rois.h5",
        figure=report(
            "results/{session}/figures/rois.png",
            caption="../report/rois.rst",
            category="Tracking",
            subcategory="{session}",
            labels={"video": "all", "figure": "ROIs and points"},
        ),
    log:
        "logs/rois/{session}.log",
    benchmark:
        "benchmarks/rois/{session}.tsv"
    conda:
        "../envs/face-rhythm.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
        runtime=10,
    params:
        rois=config["rois"],
        video=first_video_location,
        backend=config["video_backend"],
    script:
        "../scripts/rois.py"
