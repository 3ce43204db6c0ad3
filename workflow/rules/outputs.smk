# Outputs people look at: overlay videos, contact sheets, tracking figures, run-info tables
# and the NWB export. Report categories: Tracking, Spectra, Components, Alignment, Run info
# (subcategory: the session).


include: "outputs_common.smk"


# a few lines of text per session: not worth a cluster job
localrules:
    run_info_table,


rule overlay_video:
    input:
        video=video_path,
        tracking="results/{session}/{video}/tracking.h5",
    output:
        # in the report only on request: a long video would bloat the self-contained HTML
        video=report_if(
            outputs_config()["overlay_in_report"],
            "results/{session}/{video}/overlay.mp4",
            caption="../report/overlay_video.rst",
            category="Tracking",
            subcategory="{session}",
            labels={"video": "{video}", "figure": "overlay video"},
        ),
        contact_sheet=report(
            "results/{session}/figures/contact_sheet_{video}.png",
            caption="../report/contact_sheet.rst",
            category="Tracking",
            subcategory="{session}",
            labels={"video": "{video}", "figure": "contact sheet"},
        ),
        figure=report(
            "results/{session}/figures/tracking_{video}.png",
            caption="../report/tracking_summary.rst",
            category="Tracking",
            subcategory="{session}",
            labels={"video": "{video}", "figure": "displacement and violations"},
        ),
    log:
        "logs/overlay_video/{session}/{video}.log",
    benchmark:
        "benchmarks/overlay_video/{session}/{video}.tsv"
    conda:
        "../envs/face-rhythm.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb(2000),
        runtime=60,
    params:
        outputs=outputs_config(),
        fps=video_fps,
        video=video_location,
    script:
        "../scripts/overlay_video.py"


rule run_info_table:
    input:
        session_run_info_inputs,
    output:
        table=report(
            "results/{session}/run_info.tsv",
            caption="../report/run_info.rst",
            category="Run info",
            subcategory="{session}",
            labels={"video": "all", "figure": "provenance table"},
        ),
    log:
        "logs/run_info_table/{session}.log",
    benchmark:
        "benchmarks/run_info_table/{session}.tsv"
    conda:
        "../envs/face-rhythm.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(500),
        runtime=5,
    script:
        "../scripts/run_info_table.py"


rule nwb_export:
    input:
        tracking=session_trackings,
        spectrograms=session_spectrograms,
        rois="results/{session}/rois.h5",
        tca=session_tca_input,
    output:
        nwb="results/{session}/{session}.nwb",
    log:
        "logs/nwb_export/{session}.log",
    benchmark:
        "benchmarks/nwb_export/{session}.tsv"
    conda:
        "../envs/face-rhythm.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(4000),
        runtime=30,
    params:
        outputs=outputs_config(),
        session="{session}",
        videos=session_videos_param,
        video_paths=session_video_locations,
    script:
        "../scripts/nwb_export.py"
