//! The Metrics tab: the range picker (plain links, `&range=`), the container's charts (CPU,
//! memory of its limit, disk of its size, network in/out, disk I/O) drawn on the server inside
//! the `ChartHover` island, links to the series as CSV and JSON, and an empty state while
//! the monitor has recorded nothing for it yet.

use kiln_shared::AppError;
use kiln_shared::containers::ContainerDetail;
use kiln_shared::metrics::{Range, Series};
use leptos::prelude::*;

use crate::components::chart::{Chart, ChartHover, GUEST_CHARTS, RangePicker};

/// The tab.
pub fn tab(
    detail: &ContainerDetail,
    range: Range,
    answer: Result<Series, AppError>,
) -> impl IntoView {
    let id = detail.summary.id;
    let name = detail.summary.hostname.clone();
    let export = |ext: &str| format!("/containers/{id}/metrics.{ext}?range={}", range.as_str());
    let header = view! {
        <div class="row wrap metrics-bar">
            <RangePicker current=range href=move |r: Range| format!("/containers/{id}?tab=metrics&range={}", r.as_str()) />
            <span class="spacer"></span>
            <a class="btn btn-sm btn-ghost" href=export("csv") download="" data-test="export-csv">"CSV"</a>
            <a class="btn btn-sm btn-ghost" href=export("json") download="" data-test="export-json">"JSON"</a>
        </div>
    };
    let body = match answer {
        Err(e) => view! {
            <div class="alert alert-warn" role="status" data-test="metrics-error">
                {format!("The history cannot be shown: {e}")}
            </div>
        }
        .into_any(),
        Ok(series) if !series.has_data() => view! {
            <section class="card empty-state" data-test="metrics-empty">
                <h2>"Nothing recorded in this range yet"</h2>
                <p class="muted">{format!(
                    "Kiln records {name}'s CPU, memory, disk and network every few seconds while its node answers; \
                     the charts fill in from then on."
                )}</p>
                {(range != Range::Hour).then(|| view! {
                    <p class="muted">
                        "Longer ranges read the monitor's minute, hour and day rollups, made once a minute: "
                        <a href=format!("/containers/{id}?tab=metrics&range=1h")>"the last hour"</a>
                        " shows the newest samples first."
                    </p>
                })}
            </section>
        }
        .into_any(),
        Ok(series) => view! {
            <ChartHover>
                <div class="chart-grid" data-test="charts">
                    {GUEST_CHARTS.iter().map(|spec| view! {
                        <Chart series=series.clone() spec=*spec subject=name.clone() />
                    }).collect_view()}
                </div>
            </ChartHover>
            <p class="small muted">{format!(
                "Times are UTC. Each point is a {} average; the shaded band spans the lowest and highest samples; a break in a line is a time without data (the node did not answer, or Kiln was not running).",
                slot_words(range)
            )}</p>
        }
        .into_any(),
    };
    view! {
        <section data-test="metrics" data-range=range.as_str()>
            {header}
            {body}
        </section>
    }
}

/// A slot's length in words.
fn slot_words(range: Range) -> &'static str {
    match range {
        Range::Hour => "10-second",
        Range::Day => "5-minute",
        Range::Week => "30-minute",
        Range::Month => "1-hour",
        Range::Year => "1-day",
    }
}
