//! Benchmarks of the request hot path: parsing a typical browser request
//! head, and the path normalization and date formatting done per request.
//!
//! Run with `cargo bench -p unit-http`; CI only compiles them.

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use unit_http::{DateCache, HeadLimits, normalize_path, parse_request_head};

/// A head of about 400 bytes, shaped like what a desktop browser sends.
const BROWSER_HEAD: &[u8] = b"GET /static/app/main.css?v=20240611 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0\r\n\
Accept: text/css,*/*;q=0.1\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Referer: https://www.example.com/\r\n\
Connection: keep-alive\r\n\
Cookie: session=3f9a1c; theme=dark\r\n\
Sec-Fetch-Dest: style\r\n\
Upgrade-Insecure-Requests: 1\r\n\
\r\n";

fn parse_browser_head(c: &mut Criterion) {
    let limits = HeadLimits::default();
    c.bench_function("parse 400-byte browser request head", |b| {
        b.iter(|| parse_request_head(black_box(BROWSER_HEAD), &limits))
    });
}

fn normalize_typical_path(c: &mut Criterion) {
    c.bench_function("normalize path with escapes and dot-segments", |b| {
        b.iter(|| normalize_path(black_box(b"/static/./app/%7Euser/../main%20file.css")))
    });
}

fn cached_date(c: &mut Criterion) {
    let mut date_cache = DateCache::new();
    let mut now = UNIX_EPOCH + Duration::from_secs(1_718_000_000);
    c.bench_function("date cache within one second", |b| {
        b.iter(|| {
            now += Duration::from_nanos(1);
            black_box(date_cache.get(now).len())
        })
    });
}

criterion_group!(
    benches,
    parse_browser_head,
    normalize_typical_path,
    cached_date
);
criterion_main!(benches);
