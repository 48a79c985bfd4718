//! Control API benchmark: applying a configuration of 1,000 routes, from the PUT to the
//! answer (validation, the router applying it, and main storing `conf.json`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use support::{TestUnit, try_request};

fn thousand_routes(status_base: u64) -> String {
    let steps: Vec<Value> = (0..1000)
        .map(|n| {
            json!({
                "match": {"uri": format!("/app/{n}/*"), "method": ["GET", "HEAD"]},
                "action": {"return": status_base + n % 100}
            })
        })
        .collect();
    json!({
        "listeners": {"127.0.0.1:8080": {"pass": "routes"}},
        "routes": steps,
        "applications": {}
    })
    .to_string()
}

fn put_thousand_routes(criterion: &mut Criterion) {
    let unit = TestUnit::start("bench", &[]);
    // Alternate two configurations so every PUT is a real change.
    let configs = [thousand_routes(200), thousand_routes(300)];
    let mut turn = 0;
    criterion.bench_function("control_put_1000_routes", |bencher| {
        bencher.iter(|| {
            turn ^= 1;
            let response = try_request(&unit.paths.control, "PUT", "/config", Some(&configs[turn]))
                .expect("control request");
            assert_eq!(response.status, 200, "{}", response.body);
            black_box(response)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(8));
    targets = put_thousand_routes
}
criterion_main!(benches);
