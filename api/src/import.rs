//! `custodian import`: streams a CSV or JSON Lines file of contacts into a tenant through
//! the server's own `importContacts` mutation — real HTTP, the same validation, policy
//! and ledger as any client — in keyed batches, so a failed run resumes where it stopped
//! and never imports a row twice.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

/// What to import and where to.
pub struct ImportJob {
    pub file: PathBuf,
    pub format: Option<Format>,
    pub url: String,
    pub token: String,
    pub batch_size: usize,
    pub import_key: Option<String>,
}

/// Runs the import; returns `(imported, skipped)`.
///
/// # Errors
/// An unreadable file, an unknown CSV column, a server that cannot be reached, or a batch
/// the server refused (each invalid row is printed with its row number and field).
pub async fn run(job: ImportJob) -> anyhow::Result<(u64, u64)> {
    let format = match job.format {
        Some(f) => f,
        None => match job.file.extension().and_then(|e| e.to_str()) {
            Some("csv") => Format::Csv,
            Some("jsonl" | "ndjson") => Format::Jsonl,
            _ => bail!(
                "cannot tell the format of {}: pass --format csv|jsonl",
                job.file.display()
            ),
        },
    };
    let key = match job.import_key {
        Some(k) => k,
        None => file_key(&job.file)?,
    };
    let client = reqwest::Client::new();
    let progress = crate::client::graphql(
        &client,
        &job.url,
        &job.token,
        "query($k: String!) { importProgress(importKey: $k) }",
        json!({ "k": key }),
    )
    .await?;
    let done = progress["importProgress"].as_i64().unwrap_or(0);
    if done > 0 {
        eprintln!("resuming import {key}: {done} rows already committed");
    }
    let mut rows = reader(&job.file, format)?;
    let mut offset: i64 = 0;
    let (mut imported, mut skipped) = (0u64, 0u64);
    // Rows an earlier run committed are read past, not sent.
    while offset < done {
        match rows.next() {
            Some(row) => {
                row?;
                offset += 1;
                skipped += 1;
            }
            None => break,
        }
    }
    loop {
        let mut batch = Vec::with_capacity(job.batch_size);
        for row in rows.by_ref().take(job.batch_size) {
            batch.push(row?);
        }
        if batch.is_empty() {
            break;
        }
        let n = batch.len() as i64;
        let data = crate::client::graphql(
            &client,
            &job.url,
            &job.token,
            "mutation($c: [ContactInput!]!, $k: String, $o: Int!) { importContacts(contacts: $c, importKey: $k, offset: $o) { imported skipped rowsCommitted } }",
            json!({ "c": batch, "k": key, "o": offset }),
        )
        .await
        .map_err(|e| anyhow::anyhow!("rows {}..{}: {e}", offset + 1, offset + n))?;
        imported += data["importContacts"]["imported"].as_u64().unwrap_or(0);
        skipped += data["importContacts"]["skipped"].as_u64().unwrap_or(0);
        offset += n;
        eprintln!("{offset} rows committed");
    }
    Ok((imported, skipped))
}

/// The default import key: the file's SHA-256, so re-running the same file resumes it.
fn file_key(path: &Path) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

type Rows = Box<dyn Iterator<Item = anyhow::Result<Value>>>;

fn reader(path: &Path, format: Format) -> anyhow::Result<Rows> {
    let file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    match format {
        Format::Jsonl => Ok(Box::new(
            BufReader::new(file)
                .lines()
                .enumerate()
                .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
                .map(|(i, line)| {
                    let line = line?;
                    let value: Value = serde_json::from_str(&line)
                        .with_context(|| format!("line {}: not JSON", i + 1))?;
                    if !value.is_object() {
                        bail!("line {}: not a JSON object", i + 1);
                    }
                    Ok(value)
                }),
        )),
        Format::Csv => {
            let mut csv = csv::ReaderBuilder::new().flexible(false).from_reader(file);
            let columns: Vec<Column> = csv
                .headers()?
                .iter()
                .map(Column::parse)
                .collect::<anyhow::Result<_>>()?;
            Ok(Box::new(csv.into_records().enumerate().map(
                move |(i, record)| {
                    let record = record.with_context(|| format!("CSV record {}", i + 1))?;
                    Ok(csv_row(&columns, &record))
                },
            )))
        }
    }
}

/// A CSV column and where its value goes in a `ContactInput`.
#[derive(Debug, Clone)]
enum Column {
    Text(&'static str),
    /// `;`-separated values, each becoming `{key: value}` in a list (emails, phones).
    Items(&'static str, &'static str),
    /// `;`-separated strings (tags).
    List(&'static str),
    Bool(&'static str),
    Address(&'static str),
    Custom(String),
}

impl Column {
    fn parse(header: &str) -> anyhow::Result<Self> {
        let h = header.trim();
        if let Some(name) = h.strip_prefix("custom.") {
            return Ok(Self::Custom(name.to_owned()));
        }
        Ok(match h.to_ascii_lowercase().replace('_', "").as_str() {
            "firstname" => Self::Text("firstName"),
            "lastname" => Self::Text("lastName"),
            "employer" | "company" => Self::Text("employer"),
            "jobtitle" | "title" => Self::Text("jobTitle"),
            "source" => Self::Text("source"),
            "email" | "emails" => Self::Items("emails", "address"),
            "phone" | "phones" => Self::Items("phones", "number"),
            "tags" => Self::List("tags"),
            "optoutofsale" => Self::Bool("optOutOfSale"),
            "optoutofsharing" => Self::Bool("optOutOfSharing"),
            "street" | "line1" => Self::Address("line1"),
            "city" => Self::Address("city"),
            "region" | "state" => Self::Address("region"),
            "postalcode" | "zip" => Self::Address("postalCode"),
            "country" => Self::Address("country"),
            _ => bail!(
                "unknown CSV column {h:?}: use firstName, lastName, email, phone, employer, jobTitle, tags, source, street, city, region, postalCode, country, optOutOfSale, optOutOfSharing or custom.<name>"
            ),
        })
    }
}

fn split(value: &str) -> impl Iterator<Item = &str> {
    value.split(';').map(str::trim).filter(|v| !v.is_empty())
}

fn csv_row(columns: &[Column], record: &csv::StringRecord) -> Value {
    let mut input = Map::new();
    let mut custom = Map::new();
    let mut address = Map::new();
    for (column, value) in columns.iter().zip(record.iter()) {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match column {
            Column::Text(field) => {
                input.insert((*field).to_owned(), json!(value));
            }
            Column::Items(field, key) => {
                let items: Vec<Value> = split(value).map(|v| json!({ *key: v })).collect();
                input.insert((*field).to_owned(), json!(items));
            }
            Column::List(field) => {
                input.insert((*field).to_owned(), json!(split(value).collect::<Vec<_>>()));
            }
            Column::Bool(field) => {
                let yes = matches!(
                    value.to_ascii_lowercase().as_str(),
                    "true" | "yes" | "1" | "y"
                );
                input.insert((*field).to_owned(), json!(yes));
            }
            Column::Address(part) => {
                if *part == "line1" {
                    address.insert("lines".to_owned(), json!([value]));
                } else {
                    address.insert((*part).to_owned(), json!(value));
                }
            }
            Column::Custom(name) => {
                custom.insert(name.clone(), json!(value));
            }
        }
    }
    if !address.is_empty() {
        // The server names a missing country in its error.
        address.entry("country").or_insert(json!(""));
        input.insert("addresses".to_owned(), json!([address]));
    }
    if !custom.is_empty() {
        input.insert("customFields".to_owned(), Value::Object(custom));
    }
    Value::Object(input)
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::{Column, csv_row};

    const HEADERS: [&str; 16] = [
        "firstName",
        "lastName",
        "email",
        "phone",
        "employer",
        "jobTitle",
        "tags",
        "source",
        "street",
        "city",
        "region",
        "postalCode",
        "country",
        "optOutOfSale",
        "custom.tier",
        "custom.note",
    ];

    proptest! {
        /// Any row of any known columns becomes one ContactInput object for the server
        /// to validate (its errors name the field); unknown headers are refused by name.
        #[test]
        fn any_import_row_becomes_an_input_object(
            picks in prop::collection::vec(0..HEADERS.len(), 1..10),
            values in prop::collection::vec(any::<String>(), 0..12),
            header in any::<String>(),
        ) {
            let columns: Vec<Column> = picks.iter().map(|&i| Column::parse(HEADERS[i]).expect("known")).collect();
            let record = csv::StringRecord::from(values);
            let row = csv_row(&columns, &record);
            prop_assert!(row.is_object());
            if let Some(addresses) = row.get("addresses") {
                prop_assert!(addresses[0].get("country").is_some(), "a missing country is named by the server");
            }
            if let Err(e) = Column::parse(&header) {
                prop_assert!(e.to_string().contains("unknown CSV column"));
            }
        }
    }
}
