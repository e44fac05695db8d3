//! `provision list [--env E]`: the stacks this tool manages, found by their tags.

use std::path::Path;

use anyhow::{Context, Result};
use futures::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;

use crate::aws::{Aws, ClientSettings};
use crate::cli::{EnvArgs, ListArgs};
use crate::config::Config;
use crate::output::{ExitStatus, Printer};
use crate::settings::Settings;
use crate::stack::discover::{self, Managed, ObjectCount};

#[derive(Debug, Serialize)]
struct Row {
    #[serde(flatten)]
    stack: Managed,
    region: String,
    age_seconds: Option<u64>,
    expired: bool,
    /// Current objects, from one listing call: `{count: 1000, more: true}` means 1000 or more.
    objects: Option<ObjectCount>,
}

pub async fn run(settings: &Settings, args: &ListArgs, printer: &Printer) -> Result<ExitStatus> {
    let configs = match &args.env {
        Some(env) => vec![super::load_rendered(settings, &EnvArgs::new(env, None))?.0],
        None => region_configs(settings)?,
    };
    let now = OffsetDateTime::now_utc();
    let mut rows = Vec::new();
    let mut regions = Vec::new();
    for config in &configs {
        let aws = Aws::connect(&settings.clients_for(config)).await?;
        regions.push(aws.region.clone());
        // Leftovers in review are found by name: those of the envs of this region that `list` looks at.
        let envs: Vec<(String, String)> = configs
            .iter()
            .filter(|c| c.region == config.region)
            .map(|c| (c.project.clone(), c.env.clone()))
            .chain(crate::config::list_envs(&settings.stacks_dir).unwrap_or_default().into_iter().filter_map(|env| {
                let c = crate::config::load(&settings.stacks_dir, &env, None).ok()?;
                (c.region == config.region).then_some((c.project, c.env))
            }))
            .collect();
        let mut stacks = discover::managed_stacks_and_leftovers(&aws.cfn, &envs)
            .await
            .with_context(|| format!("in region {}", aws.region))?;
        if args.env.is_some() {
            stacks.retain(|s| s.env == config.env && s.project == config.project);
        }
        let counted = futures::stream::iter(stacks)
            .map(|stack| {
                let s3 = &aws.s3;
                async move {
                    let objects = match (&stack.bucket, args.no_count) {
                        (Some(bucket), false) => discover::object_count(s3, bucket).await,
                        _ => None,
                    };
                    (stack, objects)
                }
            })
            .buffered(8)
            .collect::<Vec<_>>()
            .await;
        for (stack, objects) in counted {
            rows.push(Row {
                age_seconds: stack.age(now).map(|a| a.as_secs()),
                expired: stack.expired(now),
                region: aws.region.clone(),
                stack,
                objects,
            });
        }
    }
    if printer.json() {
        printer.json_doc(&serde_json::json!({ "regions": regions, "stacks": rows }));
    } else if rows.is_empty() {
        printer.log(format!("no stacks managed by provision in {}", regions.join(", ")));
    } else {
        for line in table(&rows, now) {
            printer.data(line);
        }
    }
    Ok(ExitStatus::Success)
}

/// One config per distinct way of reaching AWS (region, endpoints, deploy role) of the env files, or just
/// `--region`: where managed stacks live.
fn region_configs(settings: &Settings) -> Result<Vec<Config>> {
    let dir = &settings.stacks_dir;
    let mut by_clients: Vec<(ClientSettings, Config)> = Vec::new();
    for env in crate::config::list_envs(dir).unwrap_or_default() {
        if let Ok(config) = crate::config::load(dir, &env, None) {
            let clients = settings.clients_for(&config);
            if !by_clients.iter().any(|(seen, _)| *seen == clients) {
                by_clients.push((clients, config));
            }
        }
    }
    if by_clients.is_empty() {
        let region = settings
            .region()
            .map(String::from)
            .context(format!("no env file in {} to learn the regions from: pass --env or --region", dir.display()))?;
        let minimal = format!("project: list\nregion: {region}\n");
        let config = crate::config::parse(&minimal, Path::new("(list)"), "list", None)
            .map_err(|_| anyhow::anyhow!("`{region}` is not a region"))?;
        return Ok(vec![config]);
    }
    Ok(by_clients.into_iter().map(|(_, config)| config).collect())
}

fn table(rows: &[Row], now: OffsetDateTime) -> Vec<String> {
    let header = ["ENV", "INSTANCE", "STATUS", "AGE", "EXPIRES", "BUCKET", "OBJECTS"];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|row| {
            let s = &row.stack;
            [
                s.env.clone(),
                s.instance.clone().unwrap_or_else(|| "-".into()),
                s.status.clone(),
                row.age_seconds
                    .map(|a| discover::human(std::time::Duration::from_secs(a)))
                    .unwrap_or_else(|| "-".into()),
                discover::expiry_text(s.expires_at, now),
                s.bucket.clone().unwrap_or_else(|| "-".into()),
                row.objects.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    crate::output::table_lines(header, &[], cells)
}
