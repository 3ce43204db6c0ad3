ruleorder: tca_all_sessions > tca


rule tca:
    input:
        spectrograms=session_spectrograms,
        rois="results/{session}/rois.h5",
    output:
        tca="results/{session}/tca.h5",
        figures=report(
            directory("results/{session}/figures/tca"),
            patterns=["{name}.png"],
            caption="../report/tca.rst",
            category="Components",
            subcategory="{session}",
            labels={"video": "all", "figure": "{name}"},
        ),
    log:
        "logs/tca/{session}.log",
    benchmark:
        "benchmarks/tca/{session}.tsv"
    conda:
        "../envs/face-rhythm.yaml"
    threads: 2
    resources:
        # the tensor is about the size of the spectrogram files (float32); the fit holds a
        # few copies of it. 200 HALS iterations take ~0.3 s per MB of tensor on 2 cores.
        mem_mb=mem_mb(4000, per_input_mb=6),
        runtime=runtime_min(30, per_input_mb=0.05),
        gpu=gpu_request("tca"),
    params:
        tca=config["tca"],
        session="{session}",
        videos=session_videos_param,
    script:
        "../scripts/tca.py"


rule tca_all_sessions:
    input:
        spectrograms=all_spectrograms,
        rois=expand("results/{session}/rois.h5", session=SESSIONS[:1]),
    output:
        tca="results/all_sessions/tca.h5",
        figures=report(
            directory("results/all_sessions/figures/tca"),
            patterns=["{name}.png"],
            caption="../report/tca.rst",
            category="Components",
            subcategory="all sessions",
            labels={"video": "all", "figure": "{name}"},
        ),
    log:
        "logs/tca_all_sessions/all_sessions.log",
    benchmark:
        "benchmarks/tca_all_sessions/all_sessions.tsv"
    conda:
        "../envs/face-rhythm.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb(4000, per_input_mb=6),
        runtime=runtime_min(30, per_input_mb=0.05),
        gpu=gpu_request("tca"),
    params:
        tca=config["tca"],
        session="all_sessions",
        sessions=list(VIDEOS["session"]),
        videos=list(VIDEOS["video"]),
    script:
        "../scripts/tca.py"
