//! Labelled data for quick fine-tuning in the page: the built-in sample, a GLUE TSV the user
//! drops (any layout the native reader supports), or SST-2 / RTE rows from the HuggingFace
//! datasets-server API.

use serde::{Deserialize, Serialize};

use super::WebError;
use super::fetch_bytes;
use crate::data::{self, Dataset, Example, Label, Task};

/// The datasets-server endpoint; rows come 100 at a time.
pub const DATASETS_SERVER: &str = "https://datasets-server.huggingface.co";

/// Where the page's labelled rows come from, as the page names them in a request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataSource {
    /// The built-in sentiment sample.
    Sample,
    /// A GLUE TSV file the user chose: its task, file name and text.
    Tsv { task: String, name: String, text: String },
    /// Rows of SST-2 or RTE from the HuggingFace datasets-server.
    Hub { task: String, rows: usize },
}

/// A training and a dev set the page fine-tunes on.
#[derive(Debug, Clone)]
pub struct WebData {
    pub(crate) train: Dataset,
    pub(crate) dev: Dataset,
    source: String,
}

/// What the page says about a data set.
#[derive(Serialize)]
pub struct Summary<'a> {
    source: &'a str,
    task: &'static str,
    train: usize,
    dev: usize,
    labels: &'static [&'static str],
}

impl WebData {
    /// The rows `source` names (fetched from the hub for [`DataSource::Hub`]).
    pub async fn from_source(source: &DataSource) -> Result<WebData, WebError> {
        match source {
            DataSource::Sample => Ok(Self::sample()),
            DataSource::Tsv { task, name, text } => Self::from_tsv(task, name, text),
            DataSource::Hub { task, rows } => Self::from_hub(task, *rows).await,
        }
    }

    /// The built-in sentiment sample (236 train / 59 dev sentences, SST-2 layout).
    pub fn sample() -> WebData {
        WebData { train: data::sample("train"), dev: data::sample("dev"), source: "built-in sample".into() }
    }

    /// A GLUE TSV file's text; one row in five is held out as dev. Errors name the file and line.
    pub fn from_tsv(task: &str, file_name: &str, text: &str) -> Result<WebData, WebError> {
        let task = Task::parse(task)?;
        let (train, dev) = crate::data::split_user_tsv(task, file_name, text)?;
        Ok(WebData { train, dev, source: file_name.to_string() })
    }

    /// `rows` training rows and a quarter as many dev rows of SST-2 or RTE from the hub.
    pub async fn from_hub(task: &str, rows: usize) -> Result<WebData, WebError> {
        let task = Task::parse(task)?;
        let train = fetch_glue_rows(DATASETS_SERVER, task, "train", rows).await?;
        let dev = fetch_glue_rows(DATASETS_SERVER, task, "validation", rows.div_ceil(4)).await?;
        Ok(WebData { train, dev, source: format!("{} from the HuggingFace hub", task.dir_name()) })
    }

    /// `{source, task, train, dev, labels}`.
    pub fn summary(&self) -> Summary<'_> {
        Summary {
            source: &self.source,
            task: self.train.task.name(),
            train: self.train.examples.len(),
            dev: self.dev.examples.len(),
            labels: self.train.task.labels(),
        }
    }
}

/// Fetches `n` rows of a GLUE task's `split` from the datasets-server API at `server`.
pub async fn fetch_glue_rows(server: &str, task: Task, split: &str, n: usize) -> Result<Dataset, WebError> {
    let (text_a, text_b) = match task {
        Task::Sst2 => ("sentence", None),
        Task::Rte => ("sentence1", Some("sentence2")),
        other => return Err(WebError::Refused(format!("{other}: rows from the hub are offered for SST-2 and RTE; drop a TSV file for other tasks"))),
    };
    let mut examples = Vec::new();
    while examples.len() < n {
        let length = (n - examples.len()).min(100);
        let url = format!("{server}/rows?dataset=nyu-mll%2Fglue&config={}&split={split}&offset={}&length={length}", task.name(), examples.len());
        let fail = |reason: String| WebError::Fetch { url: url.clone(), reason };
        let bytes = fetch_bytes(&url).await?.ok_or_else(|| fail("not found".into()))?;
        let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| fail(format!("not JSON ({e})")))?;
        let rows = json["rows"].as_array().ok_or_else(|| fail("no `rows` in the answer".into()))?;
        if rows.is_empty() {
            break;
        }
        for (i, r) in rows.iter().enumerate() {
            let row = &r["row"];
            let field = |name: &str| row[name].as_str().map(str::to_string).ok_or_else(|| fail(format!("row {i} has no text field `{name}`")));
            let label = row["label"].as_u64().filter(|&l| (l as usize) < task.num_labels()).ok_or_else(|| fail(format!("row {i} has no valid `label`")))?;
            examples.push(Example { text_a: field(text_a)?, text_b: text_b.map(field).transpose()?, label: Label::Class(label as usize) });
        }
    }
    if examples.is_empty() {
        return Err(WebError::Fetch { url: server.to_string(), reason: format!("no {split} rows of {task}") });
    }
    Ok(Dataset { task, examples, skipped: vec![] })
}
