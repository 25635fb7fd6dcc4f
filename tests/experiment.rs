//! The experiment library on the tiny model: a run is reused only when it was made from the same
//! model, data and task (issue 20, class 2), never written into the model's own folder (class
//! 3), and `publish` neither deletes a run's files nor follows links out of it (class 1).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use undivided::Checkpoint;
use undivided::data::Task;
use undivided::experiment::data::DataSpec;
use undivided::experiment::runs::Runner;
use undivided::model::FfnPlan;
use undivided::train::finetune_run::{FinetuneOptions, Observer, Quiet};

fn options() -> FinetuneOptions {
    common::finetune_options(2, 1e-3)
}

/// A GLUE folder of `task` with a few rows, written under `dir`.
fn glue_dir(dir: &Path, name: &str, header: &str, rows: &[&str]) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let body = format!("{header}\n{}\n", rows.join("\n"));
    std::fs::write(d.join("train.tsv"), &body).unwrap();
    std::fs::write(d.join("dev.tsv"), &body).unwrap();
    d
}

#[test]
fn a_run_is_reused_only_for_the_same_model_data_and_task() {
    let tmp = common::tempdir();
    let sst2 =
        glue_dir(tmp.path(), "SST-2", "sentence\tlabel", &["the movie was good\t1", "a film is bad\t0", "the film is very good\t1", "a movie was bad\t0"]);
    let other = glue_dir(tmp.path(), "other", "sentence\tlabel", &["good\t1", "bad\t0", "very good\t1", "very bad\t0"]);
    let cola = glue_dir(tmp.path(), "CoLA", "", &[]);
    std::fs::write(cola.join("train.tsv"), "s\t1\t\tthe movie was good\ns\t0\t*\tmovie the bad was\n").unwrap();
    std::fs::write(cola.join("dev.tsv"), "s\t1\t\tthe film is good\ns\t0\t*\tfilm good is the\n").unwrap();
    let model_a = common::tiny_checkpoint_dir();
    let checkpoint = Checkpoint::open(model_a.path()).unwrap();
    let said = RefCell::new(Vec::<String>::new());
    let say = |l: &str| said.borrow_mut().push(l.to_string());
    let quiet = |_: &str| -> Box<dyn Observer> { Box::new(Quiet) };
    let mut runner = Runner::new(Device::flex(), &quiet, &say, &say);
    let run_dir = tmp.path().join("run");
    let plan = FfnPlan::all(3);
    let reused = |checkpoint: &Checkpoint, data: &DataSpec, runner: &mut Runner<'_>| {
        said.borrow_mut().clear();
        runner.finetune_or_reuse(checkpoint, &plan, data, &options(), &run_dir, &[], "run").unwrap();
        said.borrow().iter().any(|l| l.contains("reusing the finished run"))
    };
    let spec = |task: Task, dir: &Path| DataSpec { task, dir: Some(dir.to_path_buf()), skip_bad_rows: false };
    assert!(!reused(&checkpoint, &spec(Task::Sst2, &sst2), &mut runner), "the first run trains");
    assert!(reused(&checkpoint, &spec(Task::Sst2, &sst2), &mut runner), "the same run again is reused");
    assert!(!reused(&checkpoint, &spec(Task::Sst2, &other), &mut runner), "other data: trained again");
    assert!(!reused(&checkpoint, &spec(Task::Cola, &cola), &mut runner), "another task: trained again");
    // The same folder name with other weights (a model trained again) is another model.
    let model_b = common::tiny_checkpoint_dir();
    let mut weights = std::fs::read(model_b.path().join("model.safetensors")).unwrap();
    let n = weights.len();
    weights[n - 4..].copy_from_slice(&0.5f32.to_le_bytes());
    std::fs::write(model_b.path().join("model.safetensors"), weights).unwrap();
    let other_model = Checkpoint::open(model_b.path()).unwrap();
    assert!(!reused(&other_model, &spec(Task::Cola, &cola), &mut runner), "another model: trained again");
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["task"], "cola");
    assert_eq!(results["options"]["made_from"]["task"], "cola", "{results}");

    // A run into the model's own folder, or inside it, is refused before anything is written.
    let before = std::fs::read(model_a.path().join("model.safetensors")).unwrap();
    for out in [model_a.path().to_path_buf(), model_a.path().join("runs/x")] {
        let err = runner.finetune(&checkpoint, &plan, &spec(Task::Sst2, &sst2), &options(), &out, false, "into the model").unwrap_err();
        assert!(err.to_string().contains("the model's own folder"), "{err}");
    }
    assert_eq!(std::fs::read(model_a.path().join("model.safetensors")).unwrap(), before);
    assert!(!model_a.path().join("results.json").exists());
}

#[cfg(unix)]
#[test]
fn publish_keeps_a_runs_files_and_does_not_follow_links() {
    use undivided::experiment::publish::publish;
    let tmp = common::tempdir();
    let runs = tmp.path().join("runs");
    let run = runs.join("A");
    std::fs::create_dir_all(&run).unwrap();
    let model = common::tiny_checkpoint_dir();
    for f in ["config.json", "model.safetensors", "vocab.txt"] {
        std::fs::copy(model.path().join(f), run.join(f)).unwrap();
    }
    let said = RefCell::new(Vec::<String>::new());
    let say = |l: &str| said.borrow_mut().push(l.to_string());
    // Into the run's own parent (the copies would land on the run's files) or the run itself: refused.
    for into in [&runs, &run] {
        let err = publish(std::slice::from_ref(&run), into, &say).unwrap_err().to_string();
        assert!(err.contains("its parent folder"), "{err}");
    }
    assert!(run.join("config.json").is_file() && run.join("model.safetensors").is_file(), "the run lost files");

    // A link to a file outside the run, and two links in a loop: not followed, said, not published.
    let secret = tmp.path().join("secret.txt");
    std::fs::write(&secret, "private").unwrap();
    std::os::unix::fs::symlink(&secret, run.join("results.json")).unwrap();
    let sub = run.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::os::unix::fs::symlink(&run, sub.join("loop")).unwrap();
    std::os::unix::fs::symlink(&sub, run.join("loop2")).unwrap();
    let into = tmp.path().join("published");
    let index = publish(std::slice::from_ref(&run), &into, &say).unwrap();
    assert_eq!(index.checkpoints.len(), 1);
    assert!(into.join("A/config.json").is_file());
    assert!(!into.join("A/results.json").exists(), "a link out of the run was published");
    assert!(said.borrow().iter().filter(|l| l.contains("symbolic link")).count() >= 3, "{:?}", said.borrow());
}

/// `bench`'s measurements: every plan gets positive rates, fewer parameters without blocks, and
/// the dataset pass only when there are sentences; the command prints them and refuses a
/// sequence length the model cannot take.
#[test]
fn bench_measures_inference_and_training_per_plan() {
    use undivided::experiment::bench::{InferenceBenchOptions, TrainingBenchOptions, inference, training};
    let dir = common::tiny_checkpoint_dir();
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let plans = FfnPlan::parse_list("all;none", 3).unwrap();
    let sentences: Vec<String> = ["the movie was good", "a film", "very bad"].iter().map(|s| s.to_string()).collect();
    let device = Device::flex();
    let spec = InferenceBenchOptions { batch: 2, seq_len: 8, warmup: 1, iters: 2, sentences: &sentences, precision: Default::default() };
    let r = inference(&checkpoint, &plans, &spec, &device).unwrap();
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|p| p.fixed_sent_per_s > 0.0 && p.data_sent_per_s.is_some_and(|v| v > 0.0) && p.data_sentences == 3), "{r:?}");
    assert!(r[1].params < r[0].params);
    let none = InferenceBenchOptions { sentences: &[], ..spec };
    assert!(inference(&checkpoint, &plans[..1], &none, &device).unwrap()[0].data_sent_per_s.is_none());
    let t = training(&checkpoint, &plans, &TrainingBenchOptions { batch: 4, seq_len: 8, warmup: 1, iters: 1 }, &device).unwrap();
    assert!(t.iter().all(|p| p.examples_per_s > 0.0 && p.ms_per_step > 0.0), "{t:?}");
    assert!(r.iter().all(|p| p.launches_per_forward.is_none()) && t.iter().all(|p| p.launches_per_step.is_none()), "burn-flex launches no GPU kernel");

    let tsv = dir.path().join("dev.tsv");
    std::fs::write(&tsv, "sentence\tlabel\nthe movie was good\t1\na film\t0\n").unwrap();
    let bench = |extra: &[&str]| {
        let seq = if extra.contains(&"--seq-len") { vec![] } else { vec!["--seq-len", "8"] };
        let mut args = vec!["bench", dir.path().to_str().unwrap(), "--plans", "all;none", "--batch", "2", "--iters", "1", "--data", tsv.to_str().unwrap()];
        args.extend_from_slice(&seq);
        args.extend_from_slice(extra);
        std::process::Command::new(env!("CARGO_BIN_EXE_undivided")).args(&args).output().unwrap()
    };
    let out = bench(&["--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["data_sentences"], 2);
    let out = bench(&["--train", "--warmup", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("examples/s") && stdout.contains("1 timed steps after 2 warm-up"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bench(&["--seq-len", "100000"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--seq-len: expected 2 to 64 tokens"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Half precision is for inference on a GPU: refused for training, and on the CPU, by name.
    let out = bench(&["--train", "--precision", "f16"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--precision f16: training computes in f32"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bench(&["--precision", "f16"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--precision f16 runs on a GPU (--device wgpu)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// On wgpu (lavapipe here) `bench` counts the GPU kernel launches of a forward pass and of a
/// training step: the same count for the same pass, fewer without intermediate blocks (each
/// removed block is two matmuls, two bias adds, a GELU, a residual and a LayerNorm's kernels),
/// a backward pass and an optimizer step on top for training; the command prints them.
#[test]
fn bench_counts_kernel_launches_on_wgpu() {
    use undivided::experiment::bench::{InferenceBenchOptions, TrainingBenchOptions, inference, training};
    let dir = common::tiny_checkpoint_dir();
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let plans = FfnPlan::parse_list("all;none;all", 3).unwrap();
    let device = pollster::block_on(undivided::device::init_device(undivided::device::Backend::Wgpu)).unwrap();
    let spec = InferenceBenchOptions { batch: 2, seq_len: 8, warmup: 1, iters: 1, sentences: &[], precision: Default::default() };
    let r = inference(&checkpoint, &plans, &spec, &device).unwrap();
    let n: Vec<usize> = r.iter().map(|p| p.launches_per_forward.as_ref().unwrap().total).collect();
    assert!(n[1] > 0 && n[1] < n[0], "{n:?}");
    assert_eq!(r[0].launches_per_forward, r[2].launches_per_forward, "the same pass launches the same kernels");
    let by_kernel = &r[0].launches_per_forward.as_ref().unwrap().by_kernel;
    assert_eq!(by_kernel.values().sum::<usize>(), n[0]);
    assert!(by_kernel.keys().all(|k| !k.contains("::") && !k.contains('<')), "short names: {by_kernel:?}");
    let t = training(&checkpoint, &plans[..2], &TrainingBenchOptions { batch: 4, seq_len: 8, warmup: 1, iters: 1 }, &device).unwrap();
    let steps: Vec<usize> = t.iter().map(|p| p.launches_per_step.as_ref().unwrap().total).collect();
    assert!(steps[0] > 2 * n[0] && steps[1] < steps[0], "a step is forward, backward and AdamW: {steps:?} vs forward {n:?}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_undivided"))
        .args([
            "bench",
            dir.path().to_str().unwrap(),
            "--plans",
            "all;none",
            "--batch",
            "2",
            "--seq-len",
            "8",
            "--iters",
            "1",
            "--limit",
            "2",
            "--device",
            "wgpu",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("all        kernel launches per forward pass: {} (most: ", n[0])), "{stdout}");
}

/// `scripts/gpu_session.sh`'s default mode, as a GPU session would start it, here on the CPU with
/// a tiny model: inference and training of every plan land in compare.txt (PyTorch's side runs
/// where python3 has torch, and is skipped with a message otherwise), then f16 inference where
/// the device has it (refused here, on the CPU); a wrong MODE is refused.
#[test]
fn the_gpu_session_script_runs_its_comparison() {
    let dir = common::tiny_checkpoint_dir();
    std::fs::write(dir.path().join("dev.tsv"), "sentence\tlabel\nthe movie was good\t1\na film\t0\n").unwrap();
    let out = common::tempdir();
    let script = common::root().join("scripts/gpu_session.sh");
    let run = |mode: &str| {
        std::process::Command::new("bash")
            .arg(&script)
            .current_dir(common::root())
            .envs([
                ("BIN", env!("CARGO_BIN_EXE_undivided")),
                ("MODE", mode),
                ("DEV", "flex"),
                ("PLANS", "all;none"),
                ("BENCH_ITERS", "1"),
                ("ROUNDS", "1"),
                ("INFER_LEN", "16"),
            ])
            .env("MODEL", dir.path())
            .env("DATA", dir.path())
            .env("OUT", out.path())
            .output()
            .unwrap()
    };
    let r = run("compare");
    assert!(r.status.success(), "{}{}", String::from_utf8_lossy(&r.stdout), String::from_utf8_lossy(&r.stderr));
    let text = std::fs::read_to_string(out.path().join("compare.txt")).unwrap();
    assert!(text.contains("fixed 32×16 tokens") && text.contains("training on flex") && text.matches("\nnone ").count() >= 2, "{text}");
    let summary = std::fs::read_to_string(out.path().join("summary.txt")).unwrap();
    assert!(summary.contains("compare done") && (summary.contains("PyTorch on") || summary.contains("PyTorch's side skipped")), "{summary}");
    // Half precision is tried last; the CPU backend refuses it by name and the comparison goes on.
    assert!(summary.contains("no f16 inference on flex") && text.contains("--precision f16 runs on a GPU"), "{summary}{text}");
    let r = run("bogus");
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("MODE: expected compare, study or pipeline, got bogus"));
}
