# Alignment across sessions: a reference frame per session (reference_frame), registered to
# the template session's (register); the template's ROIs and points are warped into every
# session (session_rois), which then replaces the plain rois rule for results/{session}/rois.h5.


include: "alignment_common.smk"


if alignment_enabled():

    ruleorder: session_rois > rois

else:

    ruleorder: rois > session_rois


rule reference_frame:
    input:
        videos=session_local_videos,
        metadata=ancient("results/{session}/videos.tsv"),
    output:
        h5="results/{session}/reference_frame.h5",
        figure=report(
            "results/{session}/reference_frame.png",
            caption="../report/alignment.rst",
            category="Alignment",
            subcategory="{session}",
            labels={"session": "{session}", "figure": "reference frame"},
        ),
    log:
        "logs/reference_frame/{session}.log",
    benchmark:
        "benchmarks/reference_frame/{session}.tsv"
    conda:
        "../envs/face-rhythm.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb(3000),
        runtime=30,
    params:
        alignment=alignment_config(),
        fps=session_video_fps,
        videos=session_video_locations,
    script:
        "../scripts/reference_frame.py"


rule rois_template:
    input:
        video=first_video_of_session,
        file=rois_file,
        metadata=ancient("results/{session}/videos.tsv"),
    output:
        rois="results/{session}/rois_template.h5",
        figure="results/{session}/figures/rois_template.png",
    log:
        "logs/rois_template/{session}.log",
    benchmark:
        "benchmarks/rois_template/{session}.tsv"
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


rule register:
    input:
        unpack(alignment_register_inputs),
    output:
        h5="results/{session}/registration.h5",
        figure=report(
            "results/{session}/figures/registration.png",
            caption="../report/alignment.rst",
            category="Alignment",
            subcategory="{session}",
            labels={"session": "{session}", "figure": "registration to the template"},
        ),
    log:
        "logs/register/{session}.log",
    benchmark:
        "benchmarks/register/{session}.tsv"
    conda:
        "../envs/face-rhythm.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(2000),
        runtime=30,
    params:
        alignment=alignment_config(),
        sessions=alignment_register_sessions,
        template=alignment_template(),
    script:
        "../scripts/register.py"


rule session_rois:
    input:
        template_rois=alignment_template_rois,
        registration="results/{session}/registration.h5",
        reference="results/{session}/reference_frame.h5",
    output:
        rois="results/{session}/rois.h5",
        figure=report(
            "results/{session}/figures/session_rois.png",
            caption="../report/alignment.rst",
            category="Alignment",
            subcategory="{session}",
            labels={"session": "{session}", "figure": "transferred ROIs and points"},
        ),
    log:
        "logs/session_rois/{session}.log",
    benchmark:
        "benchmarks/session_rois/{session}.tsv"
    conda:
        "../envs/face-rhythm.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
        runtime=10,
    params:
        alignment=alignment_config(),
        template=alignment_template(),
    script:
        "../scripts/session_rois.py"


rule alignment_overview:
    input:
        registrations=expand("results/{session}/registration.h5", session=SESSIONS),
        references=expand("results/{session}/reference_frame.h5", session=SESSIONS),
    output:
        figure=report(
            "results/all_sessions/figures/alignment_reference_frames.png",
            caption="../report/alignment.rst",
            category="Alignment",
            labels={"figure": "registered reference frames"},
        ),
        scores=report(
            "results/all_sessions/figures/alignment_scores.png",
            caption="../report/alignment.rst",
            category="Alignment",
            labels={"figure": "alignment scores"},
        ),
        table="results/all_sessions/alignment_summary.tsv",
    log:
        "logs/alignment_overview/all_sessions.log",
    benchmark:
        "benchmarks/alignment_overview/all_sessions.tsv"
    conda:
        "../envs/face-rhythm.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(2000),
        runtime=10,
    params:
        alignment=alignment_config(),
        sessions=SESSIONS,
        template=alignment_template(),
    script:
        "../scripts/alignment_overview.py"
