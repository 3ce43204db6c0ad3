include: "decomposition_common.smk"


# tca.strategy (docs/tca.md): in_memory = one job holding the whole tensor (rules tca,
# tca_all_sessions); streamed = tca_fit -> tca_time_factors (one job per video) -> tca_collect,
# for a session ({session}) or for all sessions ({session} = all_sessions).
if TCA_WORKFLOW.strategy == "in_memory":

    ruleorder: tca_all_sessions > tca

    rule tca:
        input:
            spectrograms=session_spectrograms,
            rois="results/{session}/rois.h5",
            checks=ancient(tca_decomposition_checks),
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
            checks=ancient(expand("results/{session}/videos.tsv", session=SESSIONS)),
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

else:  # tca.strategy: streamed (docs/tca.md): fit -> per-video time factors -> collect

    rule tca_fit:
        input:
            spectrograms=tca_decomposition_spectrograms,
            checks=ancient(tca_decomposition_checks),
        output:
            fit="results/{session}/tca_parts/fit.h5",
        log:
            "logs/tca_fit/{session}.log",
        benchmark:
            "benchmarks/tca_fit/{session}.tsv"
        conda:
            "../envs/face-rhythm.yaml"
        threads: 2
        resources:
            mem_mb=tca_fit_mem_mb,
            runtime=tca_fit_runtime,
            gpu=gpu_request("tca"),
        params:
            tca=config["tca"],
            session="{session}",
            sessions=tca_decomposition_sessions,
            videos=tca_decomposition_videos,
        script:
            "../scripts/tca_fit.py"

    rule tca_time_factors:
        input:
            spectrogram="results/{vsession}/{video}/spectrogram.h5",
            fit="results/{session}/tca_parts/fit.h5",
        output:
            time_factors="results/{session}/tca_parts/{vsession}/{video}.h5",
        log:
            "logs/tca_time_factors/{session}/{vsession}/{video}.log",
        benchmark:
            "benchmarks/tca_time_factors/{session}/{vsession}/{video}.tsv"
        wildcard_constraints:
            vsession=NAME_PATTERN,
        conda:
            "../envs/face-rhythm.yaml"
        threads: 1
        resources:
            # one chunk of tca.streamed.chunk_mb (float32, converted to float64) at a time:
            # constant in the video's length; ~1 s per GB of spectrogram read (bench_tca_scale)
            mem_mb=mem_mb(1500 + 4 * float(TCA_STREAMED.chunk_mb)),
            runtime=runtime_min(10, per_input_mb=0.005),
        params:
            tca=config["tca"],
            session="{vsession}",
            video="{video}",
        script:
            "../scripts/tca_time_factors.py"

    rule tca_collect:
        input:
            fit="results/{session}/tca_parts/fit.h5",
            time_factors=tca_decomposition_time_factors,
            rois=tca_decomposition_rois,
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
            "logs/tca_collect/{session}.log",
        benchmark:
            "benchmarks/tca_collect/{session}.tsv"
        conda:
            "../envs/face-rhythm.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb(2000, per_input_mb=3),
            runtime=runtime_min(10, per_input_mb=0.05),
        params:
            tca=config["tca"],
            session="{session}",
        script:
            "../scripts/tca_collect.py"
