rule spectrogram:
    input:
        tracking="results/{session}/{video}/tracking.h5",
    output:
        spectrogram="results/{session}/{video}/spectrogram.h5",
        figure=report(
            "results/{session}/figures/spectrogram_{video}.png",
            caption="../report/spectrogram.rst",
            category="Spectra",
            subcategory="{session}",
            labels={"video": "{video}", "figure": "example spectrograms"},
        ),
    log:
        "logs/spectrogram/{session}/{video}.log",
    benchmark:
        "benchmarks/spectrogram/{session}/{video}.tsv"
    conda:
        "../envs/face-rhythm.yaml"
    threads: spectrogram_threads
    resources:
        mem_mb=mem_mb(4000),
        # the input is (frames, points, 2) float32 positions: 1 MB = 125k point-frames,
        # computed at >= 100k point-frames/s (bench/bench_spectral.py): 2 s per MB, 3x margin
        runtime=runtime_min(10, per_input_mb=0.1),
        gpu=gpu_request("vqt"),
    params:
        vqt=config["vqt"],
    script:
        "../scripts/spectrogram.py"
