//! The trace-api load driver: a ledger of N entries (10,000,000 by default) built in a database of
//! its own, the release `trace-api` binary started on it as a member of `tagtrail_reader`, and
//! many concurrent clients asking for the history and the provenance bundle of items with 10
//! events each, spread over the whole log, and for hash tiles.
//!
//! The ledger: realistic ObjectEvents (5 EPCs each, from `ledger_store::testing::EventFactory`,
//! appended by the sequencer, indexed, checkpointed), and `--probes` items of the driver's own
//! (`urn:epc:id:sgtin:0614141.999999.<p>`), each named by one event in every tenth of the log. The
//! database (`tagtrail_trace_load_<N>`) is kept, so later runs reuse it (`--rebuild` starts over).
//!
//! It also asks about items nobody asked about before (the first EPC of a random event of the
//! bulk, named by that one event), so that the caches cannot answer: the cold path.
//!
//! For each route it reports requests/s with `--clients` clients as fast as they go, the clients'
//! latency percentiles, and the server's own time (the `Server-Timing` header trace-api adds);
//! then, paced at `--rate` requests/s (5,000 by default), the latency measured from each request's
//! scheduled time (no coordinated omission).
//!
//! And it scans probe items as consumers do, each request a probe no request asked about before
//! (so `--probes` should exceed the requests of a run's scan phases): the verdict in JSON and as
//! the page, and the provenance bundle the page fetches.
//!
//! And it queries the log as regulators do, through the EPCIS 2.0 query interface with a
//! regulator's token: every event naming one probe item (`MATCH_anyEPC`), the first page of 100
//! events at the bulk's business location over one day, and over one hour of event time alone
//! (windows spread over the log), and every event of one probe item's lot (`MATCH_epcClass`:
//! the first page); and the first of these again as an auditor holding a signed access grant does,
//! each request signed with the grantee's key (RFC 9421, a fresh nonce each), against the same
//! query with the token: what proving possession of a grant's key costs.
//!
//! And it traces recalls as regulators do (`GET /trace/{id}`): `--journeys` multi-level journeys
//! (`tagtrail_bench::trace::journey_events`: a lot of four items, two cases, a pallet, a shipment
//! to a warehouse, a transformation of two items into a product), appended after the probes'
//! first round; forward from a lot (through the three levels of containers to the shipment and
//! what the items were made into), backward from a product, and both ways from a case.
//!
//! Usage: `trace_load [--entries N] [--probes P] [--journeys J] [--clients C] [--seconds S]
//! [--rate R] [--rebuild] [--only history|provenance|hash|cold|scan|query|trace]`
//! (the `trace-api` binary must be built next to this one: `cargo build --release -p trace-api
//! -p tagtrail-bench --bin trace_load`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use ledger_store::testing::EventFactory;
use tagtrail_bench::trace::{
    DEVICE, LedgerSpec, PROBE_ROUNDS, ledger, percent_encode, percentile, probe, start_trace_api,
    wait_ready,
};

struct Options {
    entries: u64,
    probes: u64,
    journeys: u64,
    clients: usize,
    seconds: u64,
    rate: f64,
    rebuild: bool,
    /// Only the route whose name starts with this.
    only: Option<String>,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        entries: 10_000_000,
        probes: 1000,
        journeys: 1000,
        clients: 16,
        seconds: 10,
        rate: 5000.0,
        rebuild: false,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    let number = |args: &mut std::iter::Skip<std::env::Args>, name: &str| -> anyhow::Result<u64> {
        Ok(args
            .next()
            .with_context(|| format!("{name} needs a number"))?
            .parse()?)
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--entries" => options.entries = number(&mut args, "--entries")?,
            "--probes" => options.probes = number(&mut args, "--probes")?.max(1),
            "--journeys" => options.journeys = number(&mut args, "--journeys")?.max(1),
            "--clients" => options.clients = number(&mut args, "--clients")?.max(1) as usize,
            "--seconds" => options.seconds = number(&mut args, "--seconds")?.max(1),
            "--rate" => options.rate = number(&mut args, "--rate")?.max(1) as f64,
            "--rebuild" => options.rebuild = true,
            "--only" => options.only = Some(args.next().context("--only needs a route name")?),
            other => anyhow::bail!(
                "unknown argument {other:?}; usage: trace_load [--entries N] [--probes P] [--journeys J] [--clients C] [--seconds S] [--rate R] [--rebuild] [--only history|provenance|hash|cold|scan|query|trace]"
            ),
        }
    }
    Ok(options)
}

/// One answered request: client latency and server time, in microseconds.
#[derive(Clone, Copy)]
struct Sample {
    client: u64,
    server: u64,
}

/// What a path starting with this asks for: the page a browser gets (`Accept: text/html`).
const AS_PAGE: &str = "page:";

/// A GET, checked for 200; its server time from `Server-Timing: app;dur=<ms>`. A URL whose path
/// starts with [`AS_PAGE`] asks, without it, for HTML.
/// The regulator's token the query phases send.
static BEARER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// What a path starting with this asks for: the same as without it, signed with [`GRANT`]'s key
/// under its grant instead of sent with the token.
const SIGNED: &str = "signed:";

/// The grantee's key and the id of its grant.
static GRANT: std::sync::OnceLock<(ledger::note::NoteSignerKey, String)> =
    std::sync::OnceLock::new();

/// Counts the signed requests: each one's nonce is new.
static NONCES: AtomicU64 = AtomicU64::new(0);

/// The headers of a GET of `target` (path and query) signed under the grant.
fn signed_headers(target: &str) -> anyhow::Result<[(&'static str, String); 2]> {
    let (key, grant) = GRANT.get().context("no grant was issued")?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parts = ledger::grant::SignedParts {
        method: "GET",
        path,
        query,
        content_digest: None,
    };
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let nonce = format!(
        "{}-{}",
        std::process::id(),
        NONCES.fetch_add(1, Ordering::Relaxed)
    );
    let signature = ledger::grant::sign_request(key, grant, &parts, created, &nonce);
    Ok([
        ("Signature-Input", signature.signature_input),
        ("Signature", signature.signature),
    ])
}

fn get(agent: &ureq::Agent, url: &str) -> anyhow::Result<u64> {
    let (url, accept) = match url.split_once(AS_PAGE) {
        Some((base, path)) => (format!("{base}{path}"), "text/html"),
        None => (url.to_owned(), "application/json"),
    };
    let (url, signed) = match url.split_once(SIGNED) {
        Some((base, target)) => (format!("{base}{target}"), Some(signed_headers(target)?)),
        None => (url, None),
    };
    let url = url.as_str();
    let mut request = agent.get(url).header("Accept", accept);
    if let Some(headers) = signed {
        for (name, value) in headers {
            request = request.header(name, value);
        }
    } else if (url.contains("/events?") || url.contains("/trace/"))
        && let Some(bearer) = BEARER.get()
    {
        request = request.header("Authorization", bearer.as_str());
    }
    let mut response = request.call().with_context(|| format!("GET {url}"))?;
    if response.status() != 200 {
        let status = response.status();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        anyhow::bail!("GET {url}: {status}: {body}");
    }
    let server = response
        .headers()
        .get("server-timing")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split("dur=").nth(1))
        .and_then(|ms| ms.parse::<f64>().ok())
        .map_or(0, |ms| (ms * 1000.0) as u64);
    let _ = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()?;
    Ok(server)
}

/// Runs `clients` threads for `seconds`, each asking for `path(n)` with n counting up; or, with
/// `rate`, all of them together at that many requests per second, latency from the schedule.
fn load(
    base: &str,
    clients: usize,
    seconds: u64,
    rate: Option<f64>,
    path: Arc<dyn Fn(u64) -> String + Send + Sync>,
) -> anyhow::Result<(Vec<Sample>, Duration)> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let next = next.clone();
            let path = path.clone();
            let base = base.to_owned();
            std::thread::spawn(move || -> anyhow::Result<Vec<Sample>> {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut samples = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let scheduled = match rate {
                        Some(rate) => start + Duration::from_secs_f64(n as f64 / rate),
                        None => Instant::now(),
                    };
                    // Paced: a server that cannot keep up is not given time to drain a backlog.
                    if scheduled >= end || Instant::now() >= end {
                        return Ok(samples);
                    }
                    if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let server = get(&agent, &format!("{base}{}", path(n)))?;
                    samples.push(Sample {
                        client: scheduled.elapsed().as_micros() as u64,
                        server,
                    });
                }
            })
        })
        .collect();
    let mut samples = Vec::new();
    for thread in threads {
        samples.extend(
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))??,
        );
    }
    Ok((samples, start.elapsed()))
}

/// One row of the report.
#[allow(clippy::print_stdout)] // the driver's report
fn report(name: &str, clients: &str, samples: &[Sample], took: Duration) {
    let mut client: Vec<u64> = samples.iter().map(|s| s.client).collect();
    let mut server: Vec<u64> = samples.iter().map(|s| s.server).collect();
    client.sort_unstable();
    server.sort_unstable();
    println!(
        "| {name} | {clients} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
        samples.len(),
        samples.len() as f64 / took.as_secs_f64(),
        percentile(&server, 0.5),
        percentile(&server, 0.99),
        percentile(&client, 0.5),
        percentile(&client, 0.99),
        percentile(&client, 1.0),
    );
}

/// The events of `count` trace journeys, from two days ago, ten seconds apart.
fn journeys(count: u64) -> Vec<(String, epcis::EventHash)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let start = now.saturating_sub(2 * 86_400_000);
    (0..count)
        .flat_map(|j| tagtrail_bench::trace::journey_events(j, start + j * 10_000))
        .collect()
}

#[allow(clippy::print_stdout)] // the driver's report
fn main() -> anyhow::Result<()> {
    let options = options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let extra = journeys(options.journeys);
    // The bulk events are what the probes and the journeys leave of the ledger.
    let journey_events = extra.len() as u64;
    let url = runtime.block_on(ledger(&LedgerSpec {
        name: format!("tagtrail_trace_load_{}", options.entries),
        entries: options.entries,
        probes: options.probes,
        extra,
        rebuild: options.rebuild,
    }))?;
    // The probes' brand owns their company prefix, as a brand whose items consumers scan does
    // (a scan's Digital Link is then looked up under that split of the GTIN alone).
    runtime.block_on(async {
        let mut client = tagtrail_bench::trace::connect(&url).await?;
        let brand = ledger::OrganisationId::parse("bench-brand")?;
        let prefix = epcis::epc::CompanyPrefix::parse("0614141")?;
        match registry::add_organisation(&mut client, &brand, std::slice::from_ref(&prefix)).await {
            Err(registry::RegistryError::OrganisationExists(_)) => {
                registry::add_organisation_prefixes(&mut client, &brand, &[prefix]).await?;
            }
            other => other?,
        }
        anyhow::Ok(())
    })?;
    // A regulator's token for the query phases.
    let token = runtime.block_on(async {
        let client = tagtrail_bench::trace::connect(&url).await?;
        let token = registry::create_access_token(
            &client,
            registry::Role::Regulator,
            &[],
            "trace_load",
            Some(Duration::from_secs(86_400)),
        )
        .await?;
        anyhow::Ok(token.expose())
    })?;
    let _ = BEARER.set(format!("Bearer {token}"));
    // An auditor's grant to query, signed by the operator's grant key that trace-api trusts.
    let seed = |name: &str, byte: u8| -> anyhow::Result<ledger::note::NoteSignerKey> {
        Ok(ledger::note::NoteSignerKey::from_seed(
            ledger::note::KeyName::parse(name)?,
            &[byte; 32],
        ))
    };
    let issuer = seed("grants.trace-load.bench", 0x61)?;
    let grantee = seed("auditor.trace-load.bench", 0x62)?;
    let grant = runtime.block_on(async {
        let client = tagtrail_bench::trace::connect(&url).await?;
        let request = registry::GrantRequest {
            grantee: grantee.verifier_key(),
            role: registry::Role::Regulator,
            sites: Vec::new(),
            permissions: vec![ledger::grant::Permission::Query],
            expires_in: Duration::from_secs(86_400),
            label: "trace_load".to_owned(),
        };
        let (grant, _) = registry::issue_grant(&client, &request, &issuer).await?;
        anyhow::Ok(grant.id)
    })?;
    let _ = GRANT.set((grantee, grant));
    let grant_keys = format!("[\"{}\"]", issuer.verifier_key());
    // One client address makes every request: no per-address limit here.
    let (mut child, port) = start_trace_api(
        &url,
        &[
            // One address drives the whole load: no per-client limit may stand in its way.
            ("TAGTRAIL_TRACE_LIMITS_REQUESTS_PER_SECOND", "100000000"),
            ("TAGTRAIL_TRACE_LIMITS_BURST", "100000000"),
            ("TAGTRAIL_TRACE_LIMITS_MAX_ANSWERS_PER_CLIENT", "1024"),
            ("TAGTRAIL_TRACE_GRANTS_KEYS", grant_keys.as_str()),
            // Every signed request of a run is remembered (its nonce), none refused as one too
            // many.
            ("TAGTRAIL_TRACE_GRANTS_MAX_NONCES", "10000000"),
            ("TAGTRAIL_TRACE_GRANTS_MAX_NONCES_PER_GRANT", "10000000"),
            (
                "TAGTRAIL_TRACE_LIMITS_ANSWER_BYTES_PER_SECOND",
                "1000000000000",
            ),
        ],
    )?;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&mut child, &base)?;
    let probes = options.probes;
    let history: Arc<dyn Fn(u64) -> String + Send + Sync> =
        Arc::new(move |n| format!("/items/{}/history", percent_encode(&probe(n % probes))));
    let bundle: Arc<dyn Fn(u64) -> String + Send + Sync> =
        Arc::new(move |n| format!("/items/{}/bundle", percent_encode(&probe(n % probes))));
    // Items nobody asked about before: the first EPC of a pseudo-random bulk event (each names one
    // event), a different one for every request of the run.
    let bulk = options
        .entries
        .saturating_sub(probes * PROBE_ROUNDS + journey_events)
        .max(1);
    let factory = Arc::new(EventFactory::new(DEVICE, 1));
    // Its own counter, not the request number: no phase asks about another phase's items.
    let asked = Arc::new(AtomicU64::new(0));
    let cold = {
        let factory = factory.clone();
        move |_: u64| {
            let n = asked.fetch_add(1, Ordering::Relaxed);
            let event = factory.event(n.wrapping_mul(0x9E37_79B9_7F4A_7C15) % bulk);
            let epc = event["epcList"][0].as_str().unwrap_or_default().to_owned();
            percent_encode(&epc)
        }
    };
    let cold_history: Arc<dyn Fn(u64) -> String + Send + Sync> = {
        let cold = cold.clone();
        Arc::new(move |n| format!("/items/{}/history", cold(n)))
    };
    let cold_bundle: Arc<dyn Fn(u64) -> String + Send + Sync> =
        Arc::new(move |n| format!("/items/{}/bundle", cold(n)));
    // A consumer's scan of an item nobody asked about before: a probe item (10 events spread
    // over the log) not asked for by any earlier request of the run, by its GS1 Digital Link;
    // the JSON an app gets, the page a browser gets, and the provenance bundle that page fetches.
    // Probes from the top down, so that the warm phases' probes (from 0 up) are not among them.
    let scanned = Arc::new(AtomicU64::new(0));
    let fresh_probe = move || {
        let n = scanned.fetch_add(1, Ordering::Relaxed);
        probe(probes - 1 - n % probes)
    };
    let link = |epc: &str| {
        epcis::digital_link::urn_to_digital_link(epc)
            .ok()
            .and_then(|link| link.strip_prefix("https://id.gs1.org").map(str::to_owned))
            .unwrap_or_default()
    };
    let scan_json: Arc<dyn Fn(u64) -> String + Send + Sync> = {
        let fresh_probe = fresh_probe.clone();
        Arc::new(move |_| link(&fresh_probe()))
    };
    let scan_page: Arc<dyn Fn(u64) -> String + Send + Sync> = {
        let fresh_probe = fresh_probe.clone();
        Arc::new(move |_| format!("{AS_PAGE}{}", link(&fresh_probe())))
    };
    let scan_history: Arc<dyn Fn(u64) -> String + Send + Sync> = {
        let fresh_probe = fresh_probe.clone();
        Arc::new(move |_| {
            let link = epcis::digital_link::urn_to_digital_link(&fresh_probe()).unwrap_or_default();
            format!("/items/{}/history", percent_encode(&link))
        })
    };
    // The bundle as the page links it: by the Digital Link the consumer scanned.
    let scan_bundle: Arc<dyn Fn(u64) -> String + Send + Sync> = Arc::new(move |_| {
        let link = epcis::digital_link::urn_to_digital_link(&fresh_probe()).unwrap_or_default();
        format!("/items/{}/bundle", percent_encode(&link))
    });
    // The query interface, as a regulator: one item's events, a page of one day at the bulk's
    // business location, a page of one hour of event time, one lot's events (its first page).
    // The bulk's events are 50 a second from 1,700,000,000 s on; windows spread over them.
    let span = (options.entries / 50).max(1);
    let window = move |n: u64, seconds: u64| {
        let start = 1_700_000_000 + n.wrapping_mul(7_919) % span.saturating_sub(seconds).max(1);
        let at = |s: u64| percent_encode(&ledger::UnixMillis::from_millis(s * 1000).to_rfc3339());
        format!(
            "GE_eventTime={}&LT_eventTime={}",
            at(start),
            at(start + seconds)
        )
    };
    let query_item: Arc<dyn Fn(u64) -> String + Send + Sync> = Arc::new(move |n| {
        format!(
            "/events?MATCH_anyEPC={}",
            percent_encode(&probe(n % probes))
        )
    });
    let query_item_granted: Arc<dyn Fn(u64) -> String + Send + Sync> = {
        let query_item = query_item.clone();
        Arc::new(move |n| format!("{SIGNED}{}", query_item(n)))
    };
    let query_day: Arc<dyn Fn(u64) -> String + Send + Sync> = Arc::new(move |n| {
        format!(
            "/events?EQ_bizLocation={}&{}&perPage=100",
            percent_encode("urn:epc:id:sgln:4012345.00001.0"),
            window(n, 86_400)
        )
    });
    let query_hour: Arc<dyn Fn(u64) -> String + Send + Sync> =
        Arc::new(move |n| format!("/events?{}&perPage=100", window(n, 3_600)));
    let query_lot: Arc<dyn Fn(u64) -> String + Send + Sync> = Arc::new(move |n| {
        format!(
            "/events?MATCH_epcClass={}",
            percent_encode(&tagtrail_bench::trace::probe_lot(n % probes))
        )
    });
    // Recall traces, each of a journey spread over the journeys.
    let count = options.journeys;
    let journey = move |n: u64| n.wrapping_mul(7_919) % count;
    let trace_lot: Arc<dyn Fn(u64) -> String + Send + Sync> = Arc::new(move |n| {
        format!(
            "/trace/{}?direction=forward",
            percent_encode(&tagtrail_bench::trace::journey_lot(journey(n)))
        )
    });
    let trace_product: Arc<dyn Fn(u64) -> String + Send + Sync> = Arc::new(move |n| {
        format!(
            "/trace/{}?direction=backward",
            percent_encode(&tagtrail_bench::trace::journey_product(journey(n)))
        )
    });
    let trace_case: Arc<dyn Fn(u64) -> String + Send + Sync> = Arc::new(move |n| {
        format!(
            "/trace/{}?direction=both",
            percent_encode(&tagtrail_bench::trace::journey_case(journey(n)))
        )
    });
    let full_tiles = (options.entries / 256).max(1);
    let tile: Arc<dyn Fn(u64) -> String + Send + Sync> = Arc::new(move |n| {
        let index = (n.wrapping_mul(2_654_435_761)) % full_tiles;
        let digits = format!(
            "{index:0width$}",
            width = index.to_string().len().div_ceil(3) * 3
        );
        let groups: Vec<&str> = digits
            .as_bytes()
            .chunks(3)
            .filter_map(|g| std::str::from_utf8(g).ok())
            .collect();
        let (last, rest) = groups.split_last().unwrap_or((&"000", &[]));
        let prefix: String = rest.iter().map(|g| format!("x{g}/")).collect();
        format!("/log/tile/0/{prefix}{last}")
    });
    // Every answer checked once (a probe's history has its 10 events), and the caches warmed.
    let agent = ureq::agent();
    let mut text = String::new();
    ureq::get(&format!("{base}{}", history(0)))
        .call()?
        .body_mut()
        .read_to_string()
        .map(|body| text = body)?;
    let answer: serde_json::Value = serde_json::from_str(&text)?;
    anyhow::ensure!(
        answer["total"] == PROBE_ROUNDS.min(options.entries),
        "a probe's history has {} events, not {PROBE_ROUNDS}",
        answer["total"]
    );
    for n in 0..probes.min(100) {
        get(&agent, &format!("{base}{}", bundle(n)))?;
    }
    // A journey's forward trace reaches its lot, 4 items, 2 cases, the pallet, the shipment, the
    // product and 2 places: the events were judged authorised and the levels followed.
    let mut text = String::new();
    agent
        .get(&format!("{base}{}", trace_lot(0)))
        .header("Authorization", BEARER.get().map_or("", String::as_str))
        .call()?
        .body_mut()
        .read_to_string()
        .map(|body| text = body)?;
    let traced: serde_json::Value = serde_json::from_str(&text)?;
    let nodes = traced["nodes"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(
        nodes == 12,
        "a journey's forward trace has {nodes} nodes, not 12: {text}"
    );
    // The service builds its Bloom filters of the lookup runs in the background, prompted by
    // lookups: measure once every live run has one (a service that has been up a while).
    let started = Instant::now();
    loop {
        get(&agent, &format!("{base}{}", history(0)))?;
        let mut metrics = String::new();
        agent
            .get(&format!("{base}/metrics"))
            .call()?
            .body_mut()
            .read_to_string()
            .map(|body| metrics = body)?;
        let unfiltered = metrics
            .lines()
            .find_map(|line| line.strip_prefix("trace_lookup_unfiltered_runs "))
            .and_then(|value| value.trim().parse::<u64>().ok());
        if unfiltered == Some(0) {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the lookup run filters were not built within 10 minutes ({unfiltered:?} runs left)"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "Lookup run filters built in {:.1} s.",
        started.elapsed().as_secs_f64()
    );

    println!(
        "Ledger of {} entries; {} probe items of {PROBE_ROUNDS} events each, spread over the log.",
        options.entries, probes
    );
    println!();
    println!(
        "| route | clients | requests | requests/s | server p50 ms | server p99 ms | client p50 ms | client p99 ms | client max ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let result = (|| -> anyhow::Result<()> {
        for (name, path) in [
            ("history (10 events)", history.clone()),
            ("provenance bundle (10 events)", bundle.clone()),
            ("hash tile (full, level 0)", tile.clone()),
            (
                "cold history (1-event items never asked)",
                cold_history.clone(),
            ),
            (
                "cold provenance bundle (1-event items never asked)",
                cold_bundle.clone(),
            ),
            (
                "scanned history by Digital Link (10-event items never asked)",
                scan_history.clone(),
            ),
            ("scan, JSON (10-event items never asked)", scan_json.clone()),
            ("scan, page (10-event items never asked)", scan_page.clone()),
            (
                "scan's bundle (10-event items never asked)",
                scan_bundle.clone(),
            ),
            (
                "query MATCH_anyEPC (one item, 10 events)",
                query_item.clone(),
            ),
            (
                "query MATCH_anyEPC with a signed grant (one item, 10 events)",
                query_item_granted.clone(),
            ),
            (
                "query EQ_bizLocation over one day (page of 100)",
                query_day.clone(),
            ),
            (
                "query GE_/LT_eventTime over one hour (page of 100)",
                query_hour.clone(),
            ),
            (
                "query MATCH_epcClass (one lot: first page)",
                query_lot.clone(),
            ),
            (
                "trace forward from a lot (3 levels of containers, 12 nodes)",
                trace_lot.clone(),
            ),
            (
                "trace backward from a product (3 levels, inputs and their lot)",
                trace_product.clone(),
            ),
            ("trace both ways from a case", trace_case.clone()),
        ] {
            if options
                .only
                .as_ref()
                .is_some_and(|only| !name.starts_with(only.as_str()))
            {
                continue;
            }
            let (samples, took) =
                load(&base, options.clients, options.seconds, None, path.clone())?;
            report(name, &options.clients.to_string(), &samples, took);
            let (samples, took) = load(
                &base,
                options.clients.max(32),
                options.seconds,
                Some(options.rate),
                path,
            )?;
            report(
                name,
                &format!("paced at {:.0}/s", options.rate),
                &samples,
                took,
            );
        }
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
