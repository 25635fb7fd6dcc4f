//! GLUE tasks in their distributed TSV layouts, read strictly.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::metrics::Metric;

/// A GLUE task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Cola,
    Sst2,
    Mrpc,
    Stsb,
    Qqp,
    Mnli,
    Qnli,
    Rte,
    Wnli,
}

/// A label: a class index, or a score for the regression task (STS-B).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Label {
    Class(usize),
    Score(f32),
}

/// One labelled example: a sentence or a sentence pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub text_a: String,
    pub text_b: Option<String>,
    pub label: Label,
}

/// A TSV row that does not fit the task's layout.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}:{line}: {problem}")]
pub struct RowError {
    pub path: PathBuf,
    pub line: usize,
    pub problem: String,
}

/// Failure to read a GLUE file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Row(#[from] RowError),
    #[error("{path}: no examples")]
    Empty { path: PathBuf },
    #[error("unknown task `{0}`: expected one of cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli")]
    UnknownTask(String),
    #[error("{path}: {rows} rows; expected at least {expected} ({why})")]
    TooFew { path: PathBuf, rows: usize, expected: usize, why: &'static str },
}

/// The examples of one file, and how many malformed rows were skipped (only when asked to).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub task: Task,
    pub examples: Vec<Example>,
    pub skipped: Vec<RowError>,
}

/// Where the columns of a task are. `None` for `header`: the file has no header row (CoLA).
struct Layout {
    header: Option<&'static [&'static str]>,
    text_a: &'static str,
    text_b: Option<&'static str>,
    label: &'static str,
}

impl Task {
    pub const ALL: [Task; 9] = [Task::Cola, Task::Sst2, Task::Mrpc, Task::Stsb, Task::Qqp, Task::Mnli, Task::Qnli, Task::Rte, Task::Wnli];

    pub fn parse(name: &str) -> Result<Self, DataError> {
        let n = name.to_ascii_lowercase().replace(['-', '_'], "");
        Self::ALL.into_iter().find(|t| t.name().replace('-', "") == n).ok_or_else(|| DataError::UnknownTask(name.into()))
    }

    /// The name used on the command line and in results (`sst2`, `mnli`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Task::Cola => "cola",
            Task::Sst2 => "sst2",
            Task::Mrpc => "mrpc",
            Task::Stsb => "stsb",
            Task::Qqp => "qqp",
            Task::Mnli => "mnli",
            Task::Qnli => "qnli",
            Task::Rte => "rte",
            Task::Wnli => "wnli",
        }
    }

    /// The folder name in `glue_data/` (`SST-2`, `MNLI`, ...).
    pub fn dir_name(self) -> &'static str {
        match self {
            Task::Cola => "CoLA",
            Task::Sst2 => "SST-2",
            Task::Mrpc => "MRPC",
            Task::Stsb => "STS-B",
            Task::Qqp => "QQP",
            Task::Mnli => "MNLI",
            Task::Qnli => "QNLI",
            Task::Rte => "RTE",
            Task::Wnli => "WNLI",
        }
    }

    /// Label names in class-index order (HF's GLUE order); empty for the regression task.
    pub fn labels(self) -> &'static [&'static str] {
        match self {
            Task::Cola => &["unacceptable", "acceptable"],
            Task::Sst2 => &["negative", "positive"],
            Task::Mrpc => &["not_equivalent", "equivalent"],
            Task::Stsb => &[],
            Task::Qqp => &["not_duplicate", "duplicate"],
            Task::Mnli => &["entailment", "neutral", "contradiction"],
            Task::Qnli | Task::Rte => &["entailment", "not_entailment"],
            Task::Wnli => &["not_entailment", "entailment"],
        }
    }

    /// Outputs of the classification head (1 for regression).
    pub fn num_labels(self) -> usize {
        self.labels().len().max(1)
    }

    pub fn is_regression(self) -> bool {
        self == Task::Stsb
    }

    pub fn is_pair(self) -> bool {
        !matches!(self, Task::Cola | Task::Sst2)
    }

    /// The GLUE metrics of the task; the first is the one `--metric` defaults to.
    pub fn metrics(self) -> &'static [Metric] {
        match self {
            Task::Cola => &[Metric::Matthews],
            Task::Mrpc | Task::Qqp => &[Metric::F1, Metric::Accuracy],
            Task::Stsb => &[Metric::Pearson, Metric::Spearman],
            _ => &[Metric::Accuracy],
        }
    }

    /// Dev file names: MNLI has a matched and a mismatched one.
    pub fn dev_files(self) -> &'static [&'static str] {
        match self {
            Task::Mnli => &["dev_matched.tsv", "dev_mismatched.tsv"],
            _ => &["dev.tsv"],
        }
    }

    fn layout(self) -> Layout {
        match self {
            Task::Cola => Layout { header: None, text_a: "3", text_b: None, label: "1" },
            Task::Sst2 => Layout { header: Some(&["sentence", "label"]), text_a: "sentence", text_b: None, label: "label" },
            Task::Mrpc => Layout {
                header: Some(&["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]),
                text_a: "#1 String",
                text_b: Some("#2 String"),
                label: "Quality",
            },
            Task::Stsb => Layout { header: Some(&["sentence1", "sentence2", "score"]), text_a: "sentence1", text_b: Some("sentence2"), label: "score" },
            Task::Qqp => {
                Layout { header: Some(&["question1", "question2", "is_duplicate"]), text_a: "question1", text_b: Some("question2"), label: "is_duplicate" }
            }
            Task::Mnli => {
                Layout { header: Some(&["sentence1", "sentence2", "gold_label"]), text_a: "sentence1", text_b: Some("sentence2"), label: "gold_label" }
            }
            Task::Qnli => Layout { header: Some(&["question", "sentence", "label"]), text_a: "question", text_b: Some("sentence"), label: "label" },
            Task::Rte | Task::Wnli => {
                Layout { header: Some(&["sentence1", "sentence2", "label"]), text_a: "sentence1", text_b: Some("sentence2"), label: "label" }
            }
        }
    }

    fn parse_label(self, raw: &str) -> Result<Label, String> {
        let raw = raw.trim();
        if self.is_regression() {
            return match raw.parse::<f32>() {
                Ok(v) if (0.0..=5.0).contains(&v) => Ok(Label::Score(v)),
                _ => Err(format!("label `{raw}` is not a score from 0 to 5 (STS-B)")),
            };
        }
        let labels = self.labels();
        if let Some(i) = labels.iter().position(|l| *l == raw) {
            return Ok(Label::Class(i));
        }
        // Digits only: `+1`, ` 1` or `01` are not how GLUE writes a class.
        let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) && (raw == "0" || !raw.starts_with('0'));
        match raw.parse::<usize>() {
            Ok(i) if digits && i < labels.len() && matches!(self, Task::Cola | Task::Sst2 | Task::Mrpc | Task::Qqp | Task::Wnli) => Ok(Label::Class(i)),
            _ => Err(format!("label `{raw}` is not one of {}", self.label_spellings())),
        }
    }

    fn label_spellings(self) -> String {
        match self {
            Task::Mnli | Task::Qnli | Task::Rte => self.labels().join(", "),
            _ => (0..self.labels().len()).map(|i| i.to_string()).collect::<Vec<_>>().join(", "),
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses the text of a GLUE TSV file. `path` names it in errors. With `skip_bad`, malformed
/// rows are collected in `Dataset::skipped` instead of failing the whole file.
pub fn parse_tsv(task: Task, text: &str, path: &Path, skip_bad: bool) -> Result<Dataset, DataError> {
    parse_tsv_bytes(task, text.as_bytes(), path, skip_bad)
}

/// [`parse_tsv`] of the raw bytes of a file: a line that is not valid UTF-8 is a malformed row
/// (skipped with `skip_bad`), not a reason to refuse the whole file.
pub fn parse_tsv_bytes(task: Task, bytes: &[u8], path: &Path, skip_bad: bool) -> Result<Dataset, DataError> {
    let layout = task.layout();
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes); // MRPC starts with a UTF-8 BOM
    let mut lines = bytes.split(|&b| b == b'\n').enumerate().map(|(i, l)| {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        (i + 1, std::str::from_utf8(l).map_err(|e| format!("not UTF-8 text (invalid byte at column {})", e.valid_up_to() + 1)))
    });
    let row_err = |line: usize, problem: String| RowError { path: path.to_path_buf(), line, problem };

    // Column indices, from the header or (CoLA) fixed positions.
    let (columns, width): (Vec<usize>, Option<usize>) = match layout.header {
        None => {
            let cols = [layout.text_a, layout.label].iter().map(|c| c.parse().unwrap()).collect();
            (cols, Some(4))
        }
        Some(required) => {
            let (line_no, header) = lines.next().ok_or_else(|| DataError::Empty { path: path.to_path_buf() })?;
            let header = header.map_err(|problem| row_err(line_no, format!("header: {problem}")))?;
            let names: Vec<&str> = header.split('\t').map(str::trim).collect();
            let find = |name: &str| names.iter().rposition(|n| *n == name);
            if let Some(missing) = required.iter().find(|r| find(r).is_none()) {
                return Err(
                    row_err(line_no, format!("header has no `{missing}` column; expected the {} layout with columns {required:?}", task.dir_name())).into()
                );
            }
            let mut cols = vec![find(layout.text_a).unwrap(), find(layout.label).unwrap()];
            if let Some(b) = layout.text_b {
                cols.push(find(b).unwrap());
            }
            (cols, Some(names.len()))
        }
    };

    let mut examples = Vec::new();
    let mut skipped = Vec::new();
    for (line_no, line) in lines {
        if line.as_ref().is_ok_and(|l| l.trim().is_empty()) {
            continue;
        }
        let parsed = (|| {
            let fields: Vec<&str> = line?.split('\t').collect();
            if let Some(w) = width
                && fields.len() != w
            {
                return Err(format!("expected {w} tab-separated columns, found {}", fields.len()));
            }
            let text_a = fields[columns[0]].trim();
            if !visible(text_a) {
                return Err("empty sentence (no visible character)".to_string());
            }
            let label = task.parse_label(fields[columns[1]])?;
            let text_b = match columns.get(2) {
                Some(&c) => {
                    let b = fields[c].trim();
                    if !visible(b) {
                        return Err("empty second sentence (no visible character)".to_string());
                    }
                    Some(b.to_string())
                }
                None => None,
            };
            Ok(Example { text_a: text_a.to_string(), text_b, label })
        })();
        match parsed {
            Ok(example) => examples.push(example),
            Err(problem) if skip_bad => skipped.push(row_err(line_no, problem)),
            Err(problem) => return Err(row_err(line_no, problem).into()),
        }
    }
    if examples.is_empty() {
        return Err(DataError::Empty { path: path.to_path_buf() });
    }
    Ok(Dataset { task, examples, skipped })
}

/// Whether `text` has a character a reader would see: not only whitespace, control characters
/// (NUL, ...) or invisible format characters (zero-width spaces and joiners, direction marks,
/// soft hyphens, byte-order marks).
pub fn visible(text: &str) -> bool {
    text.chars().any(|c| {
        !(c.is_whitespace()
            || c.is_control()
            || matches!(c, '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'))
    })
}

/// Reads `split` (`train.tsv`, `dev.tsv`, ...) of `task` from `dir`, which may be the task's
/// own folder or a `glue_data` folder holding it.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_split(task: Task, dir: &Path, file: &str, skip_bad: bool) -> Result<Dataset, DataError> {
    let direct = dir.join(file);
    let path = if direct.is_file() { direct } else { dir.join(task.dir_name()).join(file) };
    let bytes = super::read_capped(&path, super::MAX_TSV_BYTES, "GLUE file").map_err(|source| DataError::Io { path: path.clone(), source })?;
    parse_tsv_bytes(task, &bytes, &path, skip_bad)
}
