//! GLUE readers: every task's distributed layout, bad rows, and the real SST-2 / RTE files.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::{Path, PathBuf};

use undivided::data::{self, Label, Task, glue::read_split, parse_tsv};

fn shared_glue() -> PathBuf {
    common::root().join("../shared/glue")
}

fn parse(task: Task, text: &str) -> Result<undivided::data::Dataset, undivided::data::DataError> {
    parse_tsv(task, text, Path::new("x/dev.tsv"), false)
}

#[test]
fn every_layout_parses() {
    let cola = parse(Task::Cola, "gj04\t1\t\tOur friends won't buy this analysis.\ngj04\t0\t*\tThey drank the pub.\n").unwrap();
    assert_eq!(cola.examples[1].label, Label::Class(0));
    assert_eq!(cola.examples[0].text_a, "Our friends won't buy this analysis.");

    let sst2 = parse(Task::Sst2, "sentence\tlabel\nit 's a charming journey . \t1\n").unwrap();
    assert_eq!(sst2.examples[0].label, Label::Class(1));
    assert_eq!(sst2.examples[0].text_b, None);

    let mrpc = parse(
        Task::Mrpc,
        "\u{feff}Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t702876\t702977\tAmrozi accused his brother.\tReferring to him, Amrozi accused his brother.\n",
    )
    .unwrap();
    assert_eq!(mrpc.examples[0].text_b.as_deref(), Some("Referring to him, Amrozi accused his brother."));

    let stsb = parse(
        Task::Stsb,
        "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA man with a hard hat is dancing.\tA man wearing a hard hat is dancing.\t5.000\n",
    )
    .unwrap();
    assert_eq!(stsb.examples[0].label, Label::Score(5.0));

    let qqp = parse(Task::Qqp, "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t3\t4\tHow do I learn Rust?\tWhat is the best way to learn Rust?\t1\n")
        .unwrap();
    assert_eq!(qqp.examples[0].label, Label::Class(1));

    let mnli_header = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label";
    let mnli = parse(Task::Mnli, &format!("{mnli_header}\n0\t63735\t63735n\tslate\t(a)\t(b)\t(A)\t(B)\tThe new rights are nice enough\tEveryone really likes the newest benefits \tneutral\tentailment\tneutral\tneutral\tneutral\tneutral\n")).unwrap();
    assert_eq!(mnli.examples[0].label, Label::Class(1), "neutral is class 1");
    assert_eq!(Task::Mnli.dev_files(), &["dev_matched.tsv", "dev_mismatched.tsv"]);

    let qnli =
        parse(Task::Qnli, "index\tquestion\tsentence\tlabel\n0\tWhat came into force after the new constitution?\tThe law did.\tnot_entailment\n").unwrap();
    assert_eq!(qnli.examples[0].label, Label::Class(1));

    let rte = parse(Task::Rte, "index\tsentence1\tsentence2\tlabel\n0\tDana Reeve died.\tChristopher Reeve had an accident.\tnot_entailment\n").unwrap();
    assert_eq!(rte.examples[0].label, Label::Class(1));

    let wnli = parse(Task::Wnli, "index\tsentence1\tsentence2\tlabel\n0\tI stuck a pin through a carrot.\tThe carrot had a hole.\t1\n").unwrap();
    assert_eq!(wnli.examples[0].label, Label::Class(1), "WNLI 1 = entailment");
}

#[test]
fn bad_rows_name_file_line_and_problem() {
    let text = "sentence\tlabel\ngood movie\t1\nbroken row without a label\nbad movie\t7\n\t0\n";
    let err = parse(Task::Sst2, text).unwrap_err().to_string();
    assert_eq!(err, "x/dev.tsv:3: expected 2 tab-separated columns, found 1");

    let skipped = parse_tsv(Task::Sst2, text, Path::new("x/dev.tsv"), true).unwrap();
    assert_eq!(skipped.examples.len(), 1);
    let problems: Vec<String> = skipped.skipped.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        problems,
        vec![
            "x/dev.tsv:3: expected 2 tab-separated columns, found 1",
            "x/dev.tsv:4: label `7` is not one of 0, 1",
            "x/dev.tsv:5: empty sentence (no visible character)",
        ]
    );

    let err = parse(Task::Rte, "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n").unwrap_err().to_string();
    assert!(err.contains("label `maybe` is not one of entailment, not_entailment"), "{err}");
    let err = parse(Task::Stsb, "sentence1\tsentence2\tscore\na\tb\thigh\n").unwrap_err().to_string();
    assert!(err.contains("not a score from 0 to 5"), "{err}");
    let err = parse(Task::Rte, "sentence\tlabel\nx\t1\n").unwrap_err().to_string();
    assert!(err.contains("x/dev.tsv:1: header has no `sentence1` column"), "{err}");
    assert!(matches!(parse(Task::Sst2, "sentence\tlabel\n"), Err(undivided::data::DataError::Empty { .. })));
}

/// Careless and hostile rows (issue 20, class 8): each is a clear row error, skippable, never a
/// silently wrong example and never a reason to drop the whole file.
#[test]
fn odd_labels_odd_bytes_and_invisible_text_are_row_errors() {
    let path = Path::new("x/dev.tsv");
    for label in ["+1", " 01", "1.0", "-0", "1e0"] {
        let err = parse(Task::Sst2, &format!("sentence\tlabel\ngood movie\t{label}\n")).unwrap_err().to_string();
        assert!(err.contains("is not one of 0, 1"), "label {label:?}: {err}");
    }
    // One line that is not UTF-8 is one bad row; with skipping the rest of the file is read.
    let bytes = b"sentence\tlabel\ngood movie\t1\nbad \xff\xfe movie\t0\nfine film\t1\n";
    let err = undivided::data::parse_tsv_bytes(Task::Sst2, bytes, path, false).unwrap_err().to_string();
    assert!(err.starts_with("x/dev.tsv:3: not UTF-8 text"), "{err}");
    let set = undivided::data::parse_tsv_bytes(Task::Sst2, bytes, path, true).unwrap();
    assert_eq!((set.examples.len(), set.skipped.len()), (2, 1));
    // Text without a visible character: NUL bytes, zero-width spaces and joiners, direction marks.
    for text in ["\0\0", "\u{200B}\u{200D}", "\u{FEFF}\u{2060}", "\u{200E}"] {
        let err = parse(Task::Sst2, &format!("sentence\tlabel\n{text}\t1\n")).unwrap_err().to_string();
        assert!(err.contains("no visible character"), "{text:?}: {err}");
    }
    assert!(undivided::data::visible("café\u{200B}") && !undivided::data::visible(" \t\u{00AD}"));
    // An STS-B score outside 0..5 (3e38 made the loss overflow and blamed the learning rate).
    for score in ["3e38", "-1", "5.5", "NaN", "inf"] {
        let err = parse(Task::Stsb, &format!("sentence1\tsentence2\tscore\na\tb\t{score}\n")).unwrap_err().to_string();
        assert!(err.contains("is not a score from 0 to 5"), "{score}: {err}");
    }
    assert!(parse(Task::Stsb, "sentence1\tsentence2\tscore\na\tb\t5.000\n").is_ok());
}

#[test]
fn real_sst2_and_rte() {
    let dir = shared_glue();
    let count = |d: &undivided::data::Dataset, c: usize| d.examples.iter().filter(|e| e.label == Label::Class(c)).count();
    let train = read_split(Task::Sst2, &dir, "train.tsv", false).unwrap();
    assert_eq!((train.examples.len(), count(&train, 0), count(&train, 1)), (67_349, 29_780, 37_569));
    let dev = read_split(Task::Sst2, &dir.join("SST-2"), "dev.tsv", false).unwrap();
    assert_eq!((dev.examples.len(), count(&dev, 0), count(&dev, 1)), (872, 428, 444));
    let rte = read_split(Task::Rte, &dir, "train.tsv", false).unwrap();
    assert_eq!((rte.examples.len(), count(&rte, 0), count(&rte, 1)), (2_490, 1_249, 1_241));
    let rte_dev = read_split(Task::Rte, &dir, "dev.tsv", false).unwrap();
    assert_eq!((rte_dev.examples.len(), count(&rte_dev, 0)), (277, 146));
    assert!(rte_dev.examples.iter().all(|e| e.text_b.is_some()));
}

#[test]
fn builtin_sample() {
    let train = data::sample("train");
    let dev = data::sample("dev");
    assert_eq!((train.examples.len(), dev.examples.len()), (236, 59));
    let pos = train.examples.iter().filter(|e| e.label == Label::Class(1)).count();
    assert!((100..140).contains(&pos), "{pos}");
}

#[test]
fn task_names() {
    for t in Task::ALL {
        assert_eq!(Task::parse(t.name()).unwrap(), t);
    }
    assert_eq!(Task::parse("SST-2").unwrap(), Task::Sst2);
    assert!(Task::parse("squad").unwrap_err().to_string().contains("cola, sst2"));
}
