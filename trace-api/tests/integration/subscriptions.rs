//! Subscriptions to named queries, delivered to a real HTTP receiver: only events logged after
//! the subscription, each range again until the receiver takes it and never after, signed with
//! the access log's key (and the client's HMAC), recorded in the access log; a revoked token's
//! subscription pauses; each kind of bad request gets the binding's exception; a recall is
//! pushed; several processes, started and stopped, deliver each event exactly once; a scheduled
//! subscription delivers what is new at its times, each event once.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{KeyInit as _, Mac as _};
use ledger::note::{Note, NoteVerifiers};
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::common::{Pipeline, access_key, object};
use crate::query::token;

const LEDGER_MEMBER: &str = "https://tagtrail.dev/ns/ledger#entry";
const SECRET: &str = "the client's own secret";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The status it was answered.
    answered: u16,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map_or("", |(_, value)| value.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The leaf indexes of the events it carried.
    pub(crate) fn leaves(&self) -> Vec<u64> {
        self.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| event[LEDGER_MEMBER]["leafIndex"].as_u64().unwrap())
            .collect()
    }
}

/// The HMAC-SHA-256 of `body` under [`SECRET`], in hex: a delivery's `GS1-Signature-HMAC-SHA256`.
fn hmac_hex(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A webhook receiver on a port of its own: it answers each request with the next status of its
/// script (200 once the script is spent) and keeps what it got.
pub(crate) struct Receiver {
    pub(crate) port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    /// How many requests have arrived (counted before the receiver takes its time to answer).
    arrived: Arc<std::sync::atomic::AtomicUsize>,
}

impl Receiver {
    pub(crate) fn start(script: &[u16]) -> Self {
        Self::answering_after(script, Duration::ZERO)
    }

    /// A receiver that takes `delay` to answer each request.
    fn answering_after(script: &[u16], delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut script: VecDeque<u16> = script.iter().copied().collect();
        let (kept, arriving) = (got.clone(), arrived.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = Vec::new();
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                loop {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    let Some((name, value)) = line.trim_end().split_once(':') else {
                        break;
                    };
                    headers.push((name.trim().to_owned(), value.trim().to_owned()));
                }
                let length: usize = headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, value)| value.parse().unwrap());
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                arriving.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let answered = script.pop_front().unwrap_or(200);
                std::thread::sleep(delay);
                kept.lock().unwrap().push(Received {
                    headers,
                    body,
                    answered,
                });
                let _ = write!(
                    stream,
                    "HTTP/1.1 {answered} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Self { port, got, arrived }
    }

    pub(crate) fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until it has got `count` requests.
    pub(crate) fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.got();
            if got.len() >= count {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} deliveries, not {count}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Deliveries to receivers on this machine (`127.0.0.1` allowed), looked for every `interval`.
fn to_local_receivers(config: &mut trace_api::Config, interval: Duration) {
    config.subscriptions.allowed_hosts = vec!["127.0.0.1".to_owned()];
    config.subscriptions.interval = interval;
}

/// `POST path` with a bearer token and a JSON body: status, headers and JSON body.
async fn post(pipeline: &Pipeline, path: &str, token: &str, body: Value) -> (u16, Value) {
    let bearer = format!("Bearer {token}");
    let (status, _, bytes) = pipeline
        .post(
            path,
            &[("Authorization", bearer.as_str())],
            &serde_json::to_vec(&body).unwrap(),
        )
        .await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn get(pipeline: &Pipeline, path: &str, token: &str) -> (u16, Value) {
    let bearer = format!("Bearer {token}");
    let (status, _, bytes) = pipeline
        .get_with(path, &[("Authorization", bearer.as_str())])
        .await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// `token`'s named query `name` of `query`, made, and a new receiver (answering `script`)
/// subscribed to it with `asked` (as [`subscribed_at`] makes it): the receiver, its `dest` and
/// the subscription as made.
async fn subscribed(
    pipeline: &Pipeline,
    token: &str,
    name: &str,
    query: Value,
    script: &[u16],
    asked: Value,
) -> (Receiver, String, Value) {
    let receiver = Receiver::start(script);
    let dest = format!("http://127.0.0.1:{}/hook", receiver.port);
    let made = subscribed_at(pipeline, token, name, query, &dest, asked).await;
    (receiver, dest, made)
}

/// `token`'s named query `name` of `query`, made, and a subscription to it delivering to `dest`
/// with `asked` (`dest` is added, and `stream` unless it has a `schedule`): the subscription as
/// made.
async fn subscribed_at(
    pipeline: &Pipeline,
    token: &str,
    name: &str,
    query: Value,
    dest: &str,
    mut asked: Value,
) -> Value {
    let (status, made) = post(
        pipeline,
        "/queries",
        token,
        json!({"name": name, "query": query}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    asked["dest"] = json!(dest);
    if asked.get("schedule").is_none() {
        asked["stream"] = json!(true);
    }
    let path = format!("/queries/{name}/subscriptions");
    let (status, made) = post(pipeline, &path, token, asked).await;
    assert_eq!(status, 201, "{made}");
    made
}

/// Waits until `count` subscriptions wait, paused because their credential was revoked.
pub(crate) async fn wait_for_paused(admin: &tokio_postgres::Client, count: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = admin
            .query_one(
                "SELECT count(*) FROM subscriptions WHERE last_failure LIKE 'paused: %revoked'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{waiting} subscriptions of revoked credentials paused, not {count}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A shipping event of item `n`, `minutes` after the journey's start.
pub(crate) fn shipping(n: u32, minutes: u32) -> Value {
    object(
        minutes,
        "OBSERVE",
        &[&format!("urn:epc:id:sgtin:0614141.812345.{n}")],
        "shipping",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_initial_record_time_starts_at_the_first_entry_recorded_then() {
    let pipeline = Pipeline::start(|config| {
        to_local_receivers(config, Duration::from_millis(50));
        // Captured one after the other here: record times rise with the leaves.
        config.subscriptions.record_time_skew = Duration::ZERO;
    })
    .await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    pipeline.capture(vec![shipping(1, 0), shipping(2, 1)]).await;
    // A millisecond after the second entry's record time, once the clock has passed it: the
    // next capture is recorded after it.
    let (status, answer) = get(&pipeline, "/events?EQ_bizStep=shipping", &regulator).await;
    assert_eq!(status, 200, "{answer}");
    let recorded = answer["epcisBody"]["queryResults"]["resultsBody"]["eventList"][1]["recordTime"]
        .as_str()
        .unwrap()
        .to_owned();
    let recorded = epcis::document::Timestamp::parse(&recorded)
        .unwrap()
        .unix_nanos();
    let between = u64::try_from(recorded / 1_000_000).unwrap() + 1;
    let now = || {
        u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap()
    };
    while now() <= between {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let between = ledger::UnixMillis::from_millis(between).to_rfc3339();
    pipeline.capture(vec![shipping(3, 2)]).await;
    pipeline.wait_for_checkpoint(3).await;

    // From then: the third entry alone, the backlog delivered at once.
    let ships = json!({"EQ_bizStep": "shipping"});
    let asked = |at: &str| json!({"initialRecordTime": at});
    let (later, _, made) = subscribed(
        &pipeline,
        &regulator,
        "later",
        ships.clone(),
        &[],
        asked(&between),
    )
    .await;
    assert_eq!(made["nextLeaf"], 2, "{made}");
    assert_eq!(later.wait_for(1)[0].leaves(), [2]);
    // From before the log: all of it.
    let (all, _, made) = subscribed(
        &pipeline,
        &regulator,
        "all",
        ships.clone(),
        &[],
        asked("2000-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(made["nextLeaf"], 0, "{made}");
    assert_eq!(all.wait_for(1)[0].leaves(), [0, 1, 2]);
    // Then each goes on from where it is, the new event once.
    pipeline.capture(vec![shipping(4, 3)]).await;
    assert_eq!(later.wait_for(2)[1].leaves(), [3]);
    assert_eq!(all.wait_for(2)[1].leaves(), [3]);

    // A time to come, or not a time: refused, nothing kept.
    for (at, says) in [
        (json!("2999-01-01T00:00:00Z"), "is in the future"),
        (json!("yesterday"), "is not a date-time"),
        (json!(7), "is a date-time string"),
    ] {
        let (status, answer) = post(
            &pipeline,
            "/queries/later/subscriptions",
            &regulator,
            json!({"dest": "http://127.0.0.1:9/x", "stream": true, "initialRecordTime": at}),
        )
        .await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["type"], "epcisException:QueryParameterException");
        let detail = answer["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{detail}");
    }
    let (_, listed) = get(&pipeline, "/queries/later/subscriptions", &regulator).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_matching_events_are_delivered_until_taken_signed_and_recorded() {
    let pipeline = Pipeline::start(|config| {
        to_local_receivers(config, Duration::from_millis(50));
        config.subscriptions.max_per_token = 2;
    })
    .await;
    // Logged before the subscription: never delivered.
    pipeline.capture(vec![shipping(1, 0)]).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    // The receiver fails the first delivery, then takes what follows.
    let (receiver, dest, made) = subscribed(
        &pipeline,
        &regulator,
        "ships",
        json!({"EQ_bizStep": "shipping"}),
        &[503],
        json!({"signatureToken": SECRET}),
    )
    .await;
    let id = made["subscriptionID"].as_str().unwrap().to_owned();
    let start = made["nextLeaf"].as_u64().unwrap();
    assert_eq!(start, 1, "it starts at the newest checkpoint: {made}");
    assert!(made.get("signatureToken").is_none(), "never shown again");

    // Two shipments and a receiving: the shipments are delivered, refused once, then taken.
    pipeline
        .capture(vec![
            shipping(2, 1),
            object(
                2,
                "OBSERVE",
                &["urn:epc:id:sgtin:0614141.812345.2"],
                "receiving",
            ),
            shipping(3, 3),
        ])
        .await;
    let got = receiver.wait_for(2);
    assert_eq!((got[0].answered, got[1].answered), (503, 200));
    assert_eq!(
        got[0].leaves(),
        got[1].leaves(),
        "the same range again, the same events"
    );
    assert_eq!(
        got[0].header("TagTrail-Delivery-Range"),
        got[1].header("TagTrail-Delivery-Range")
    );
    assert_eq!(
        got[1].leaves(),
        [1, 3],
        "the shipments logged after it, not the receiving"
    );
    let document = got[1].json();
    assert_eq!(document["type"], "EPCISQueryDocument");
    assert_eq!(document["epcisBody"]["queryResults"]["queryName"], "ships");
    assert_eq!(document["epcisBody"]["queryResults"]["subscriptionID"], id);

    // Signed with the access log's key over the subscription, the range and the body.
    let note = base64::engine::general_purpose::STANDARD
        .decode(got[1].header("GS1-Signature"))
        .unwrap();
    let note = Note::parse(std::str::from_utf8(&note).unwrap()).unwrap();
    NoteVerifiers::new(vec![access_key().verifier_key()])
        .unwrap()
        .verify(&note)
        .unwrap();
    let digest: String = sha2::Sha256::digest(&got[1].body)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(
        note.text(),
        format!("tagtrail.dev/subscription-delivery/v1\n{id}\n1 4\n{digest}\n")
    );
    assert_eq!(got[1].header("TagTrail-Delivery-Range"), "1 4");
    assert_eq!(
        got[1].header("GS1-Signature-HMAC-SHA256"),
        hmac_hex(&got[1].body)
    );

    // Taken once, never again: the next shipment comes alone, from where the last one ended.
    pipeline.capture(vec![shipping(4, 4)]).await;
    let got = receiver.wait_for(3);
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].leaves(), [4]);
    assert_eq!(got[2].header("TagTrail-Delivery-Range"), "4 5");
    // The receiver has the body before the service has its answer and moves the
    // subscription on: wait for that, not for the delivery.
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let (status, shown) = get(
            &pipeline,
            &format!("/queries/ships/subscriptions/{id}"),
            &regulator,
        )
        .await;
        assert_eq!(status, 200, "{shown}");
        if shown["nextLeaf"] != 4 {
            break shown;
        }
        assert!(Instant::now() < deadline, "never moved past 4: {shown}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(shown["nextLeaf"], 5);
    assert_eq!(shown["failures"], 0);
    assert!(shown["lastNotifiedAt"].is_string(), "{shown}");

    // Each delivery was recorded in the access log before it left (the refused one too).
    let admin = pipeline.db.connect().await.unwrap();
    let pushes = pushes(&admin).await;
    assert_eq!(pushes, 3);

    // Each kind of bad request: the binding's exception, nothing kept.
    post(
        &pipeline,
        "/queries",
        &regulator,
        json!({"name": "sorted", "query": {"orderBy": "eventTime"}}),
    )
    .await;
    for (path, body, status, says) in [
        (
            "/queries/ships/subscriptions",
            json!({"dest": dest, "stream": true, "schedule": {"hour": "1"}}),
            400,
            "SubscriptionControlsException\" a subscription is a stream",
        ),
        (
            "/queries/ships/subscriptions",
            json!({"dest": dest}),
            400,
            "SubscriptionControlsException\" a subscription gives \"stream\": true",
        ),
        (
            "/queries/ships/subscriptions",
            json!({"dest": dest, "stream": "yes"}),
            400,
            "stream is true or false",
        ),
        (
            "/queries/ships/subscriptions",
            json!({"dest": dest, "schedule": "hourly"}),
            400,
            "SubscriptionControlsException\" schedule is an object",
        ),
        (
            "/queries/ships/subscriptions",
            json!({"dest": dest, "schedule": {}}),
            400,
            "SubscriptionControlsException\" a schedule names at least one",
        ),
        (
            "/queries/ships/subscriptions",
            json!({"dest": dest, "schedule": {"hour": "25"}}),
            400,
            "schedule.hour \"25\": 25 is not within 0 to 23",
        ),
        (
            "/queries/ships/subscriptions",
            json!({"dest": dest, "schedule": {"month": "2", "dayOfMonth": "30"}}),
            400,
            "no time in the next 400 years",
        ),
        (
            "/queries/ships/subscriptions",
            json!({"dest": dest, "schedule": {"second": "0/1"}, "reportIfEmpty": true}),
            400,
            "SubscriptionControlsException\" the schedule names times 1 s apart",
        ),
        (
            "/queries/ships/subscriptions",
            json!({"dest": dest, "schedule": {"minute": "0/1", "second": "0,20"}}),
            400,
            "at most once every 30 s",
        ),
        (
            "/queries/ships/subscriptions",
            json!({"dest": "ftp://127.0.0.1/x", "stream": true}),
            400,
            "not http",
        ),
        (
            "/queries/ships/subscriptions",
            json!({"dest": "https://example.com/x", "stream": true}),
            400,
            "allowed_hosts",
        ),
        (
            "/queries/ships/subscriptions",
            json!({"dest": dest, "stream": true, "x": 1}),
            400,
            "has member \"x\"",
        ),
        (
            "/queries/ships/subscriptions",
            json!({"dest": dest, "stream": true, "signatureToken": ""}),
            400,
            "signatureToken",
        ),
        (
            "/queries/ships/subscriptions",
            json!({"dest": format!("http://127.0.0.1/{}", "x".repeat(2100)), "stream": true}),
            400,
            "dest is 1 to 2048",
        ),
        (
            "/queries/ships/subscriptions",
            json!({"dest": dest, "stream": true, "signatureToken": "x".repeat(9000)}),
            400,
            "longer than 8192 bytes",
        ),
        (
            "/queries/sorted/subscriptions",
            json!({"dest": dest, "stream": true}),
            400,
            "no orderBy",
        ),
        (
            "/queries/nothing/subscriptions",
            json!({"dest": dest, "stream": true}),
            404,
            "NoSuchNameException",
        ),
    ] {
        let (got, answer) = post(&pipeline, path, &regulator, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        let said = format!("{} {}", answer["type"], answer["detail"].as_str().unwrap());
        assert!(said.contains(says), "{body}: {answer}");
    }
    let (_, listed) = get(&pipeline, "/queries/ships/subscriptions", &regulator).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    // A token keeps at most so many (2 here), however many it asks for at once: of eight
    // asked together, one is made, the others refused.
    let second = json!({"dest": dest, "stream": true});
    let asked = (0..8).map(|_| {
        post(
            &pipeline,
            "/queries/ships/subscriptions",
            &regulator,
            second.clone(),
        )
    });
    let mut statuses: Vec<u16> = futures_util::future::join_all(asked)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 422, 422, 422, 422, 422, 422, 422]);
    let (status, answer) = post(
        &pipeline,
        "/queries/ships/subscriptions",
        &regulator,
        second,
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    // Listed a page at a time, in the order they were made, each once.
    let (_, whole) = get(&pipeline, "/queries/ships/subscriptions", &regulator).await;
    let ids = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|one| one["subscriptionID"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&whole).len(), 2, "{whole}");
    assert_eq!(ids(&whole)[0], id, "the first made first");
    let bearer = format!("Bearer {regulator}");
    let auth = [("Authorization", bearer.as_str())];
    let (status, headers, first) = pipeline
        .get_with("/queries/ships/subscriptions?perPage=1", &auth)
        .await;
    assert_eq!(status, 200);
    let link = crate::common::header(&headers, "link").unwrap().to_owned();
    let next = link.strip_prefix('<').unwrap().split_once('>').unwrap().0;
    let (status, headers, second_page) = pipeline.get_with(next, &auth).await;
    assert_eq!(status, 200);
    assert_eq!(
        crate::common::header(&headers, "link"),
        None,
        "the last page"
    );
    let paged: Vec<String> = [first, second_page]
        .iter()
        .flat_map(|page| ids(&serde_json::from_slice(page).unwrap()))
        .collect();
    assert_eq!(paged, ids(&whole));
    // Another token sees none of them.
    let other = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let (status, _) = get(
        &pipeline,
        &format!("/queries/ships/subscriptions/{id}"),
        &other,
    )
    .await;
    assert_eq!(status, 404);

    // A revoked token's subscriptions deliver nothing; they wait, saying why.
    let revoked = registry::TokenId::parse(&regulator[3..19]).unwrap();
    registry::revoke_access_token(&admin, &revoked)
        .await
        .unwrap();
    pipeline.capture(vec![shipping(5, 5)]).await;
    wait_for_paused(&admin, 2).await;
    assert_eq!(
        receiver.got().len(),
        3,
        "nothing delivered for a revoked token"
    );

    // Deleting the named query ends its subscriptions.
    admin
        .execute("DELETE FROM named_queries WHERE name = 'ships'", &[])
        .await
        .unwrap();
    let left: i64 = admin
        .query_one("SELECT count(*) FROM subscriptions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    pipeline.stop().await;
}

/// How many deliveries the access log holds (method `PUSH`).
async fn pushes(admin: &tokio_postgres::Client) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM access_log WHERE entry LIKE '%\"method\":\"PUSH\"%'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Makes subscription `id`'s scheduled time come now (as a time missed while no process ran
/// would be found at start), then waits until its round is over: due again only at a time to come.
async fn run_round(admin: &tokio_postgres::Client, id: &str) {
    admin
        .execute(
            "UPDATE subscriptions SET next_attempt_at = now() - interval '1 second' \
             WHERE subscription_id::text = $1",
            &[&id],
        )
        .await
        .unwrap();
    wait_until_waiting(admin, id).await;
}

/// Waits until subscription `id` is next due at a time to come with its round over or failed (a
/// round with more to deliver goes on after a moment, as long as the last delivery took), and
/// gives that time as Unix seconds.
async fn wait_until_waiting(admin: &tokio_postgres::Client, id: &str) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row = admin
            .query_one(
                "SELECT extract(epoch FROM next_attempt_at)::float8, \
                        next_attempt_at > now() AND (fire_started_at IS NULL OR failures > 0) \
                 FROM subscriptions WHERE subscription_id::text = $1",
                &[&id],
            )
            .await
            .unwrap();
        if row.get::<_, bool>(1) {
            return row.get(0);
        }
        assert!(Instant::now() < deadline, "its round never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A scheduled subscription: due at the times its schedule names (made up once when missed), it
/// delivers the events logged since its last delivery, in as many deliveries as they take, each
/// once; a round that delivered sends no empty report, and one that found nothing sends one; a
/// schedule of every two seconds runs by the clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_subscription_delivers_what_is_new_at_its_times_each_once() {
    let pipeline = Pipeline::start(|config| {
        to_local_receivers(config, Duration::from_millis(20));
        config.subscriptions.events_per_delivery = 2;
        config.subscriptions.min_schedule_interval = Duration::from_secs(2);
    })
    .await;
    let admin = pipeline.db.connect().await.unwrap();
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    // Midnight on the 1st of January.
    let yearly = json!({"month": "1"});
    let (receiver, _, made) = subscribed(
        &pipeline,
        &regulator,
        "ships",
        json!({"EQ_bizStep": "shipping"}),
        &[],
        json!({"schedule": yearly, "reportIfEmpty": true, "signatureToken": SECRET}),
    )
    .await;
    assert_eq!(made["stream"], false, "{made}");
    assert_eq!(made["schedule"], yearly);
    let id = made["subscriptionID"].as_str().unwrap().to_owned();
    let next = wait_until_waiting(&admin, &id).await;
    let new_year: f64 = admin
        .query_one(
            "SELECT extract(epoch FROM date_trunc('year', now() AT TIME ZONE 'UTC') \
             + interval '1 year')::float8",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, new_year, "due at the next new year, UTC");

    // Two shipments and a receiving, logged before its time: the shipments in one delivery, and
    // no empty report for the receiving read after them.
    pipeline
        .capture(vec![
            shipping(1, 0),
            shipping(2, 1),
            object(
                2,
                "OBSERVE",
                &["urn:epc:id:sgtin:0614141.812345.2"],
                "receiving",
            ),
        ])
        .await;
    pipeline.wait_for_checkpoint(3).await;
    assert!(receiver.got().is_empty(), "nothing before its time");
    run_round(&admin, &id).await;
    let got = receiver.got();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].leaves(), [0, 1]);
    assert_eq!(got[0].header("TagTrail-Delivery-Range"), "0 2");

    // Three more: two deliveries of the next round, from where the last ended, nothing resent.
    pipeline
        .capture(vec![shipping(3, 3), shipping(4, 4), shipping(5, 5)])
        .await;
    pipeline.wait_for_checkpoint(6).await;
    run_round(&admin, &id).await;
    let got = receiver.got();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(
        (got[1].leaves(), got[2].leaves()),
        (vec![3, 4], vec![5]),
        "the new events, each once"
    );

    // Nothing new: one empty report, signed.
    run_round(&admin, &id).await;
    let got = receiver.got();
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got[3].leaves().is_empty());
    assert_eq!(got[3].header("TagTrail-Delivery-Range"), "6 6");
    assert_eq!(
        got[3].header("GS1-Signature-HMAC-SHA256"),
        hmac_hex(&got[3].body)
    );
    let (_, shown) = get(
        &pipeline,
        &format!("/queries/ships/subscriptions/{id}"),
        &regulator,
    )
    .await;
    assert_eq!(shown["nextLeaf"], 6, "{shown}");
    assert_eq!(shown["schedule"], yearly, "{shown}");

    // By the clock: every two seconds, the next shipment, once.
    let (quick, _, made) = subscribed(
        &pipeline,
        &regulator,
        "quick",
        json!({"EQ_bizStep": "shipping"}),
        &[],
        json!({"schedule": {"second": "0/2"}}),
    )
    .await;
    let quick_id = made["subscriptionID"].as_str().unwrap().to_owned();
    pipeline.capture(vec![shipping(6, 6)]).await;
    assert_eq!(quick.wait_for(1)[0].leaves(), [6]);
    let next = wait_until_waiting(&admin, &quick_id).await;
    assert!(
        next.fract() == 0.0 && next % 2.0 == 0.0,
        "due at an even second: {next}"
    );
    // Its next time comes and goes: nothing new, nothing sent.
    while wait_until_waiting(&admin, &quick_id).await == next {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(quick.got().len(), 1, "{:?}", quick.got());
    pipeline.stop().await;
}

/// The flood a credential could make of a schedule: a round (a query, an access-log entry, a
/// delivery) every second. Such a schedule is refused, and one stored under a laxer setting than
/// today's still waits the least interval after each round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_no_more_often_than_the_least_interval() {
    let pipeline = Pipeline::start(|config| {
        to_local_receivers(config, Duration::from_millis(20));
    })
    .await;
    let admin = pipeline.db.connect().await.unwrap();
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    // Rounds read up to the newest checkpoint: the log has one.
    pipeline.capture(vec![shipping(1, 0)]).await;
    pipeline.wait_for_checkpoint(1).await;
    let (receiver, dest, made) = subscribed(
        &pipeline,
        &regulator,
        "ships",
        json!({"EQ_bizStep": "shipping"}),
        &[],
        json!({"schedule": {"month": "1"}, "reportIfEmpty": true}),
    )
    .await;
    let id = made["subscriptionID"].as_str().unwrap().to_owned();
    let (status, refused) = post(
        &pipeline,
        "/queries/ships/subscriptions",
        &regulator,
        json!({"dest": dest, "schedule": {"second": "0/1"}, "reportIfEmpty": true}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        refused["type"],
        "epcisException:SubscriptionControlsException"
    );
    let kept: i64 = admin
        .query_one("SELECT count(*) FROM subscriptions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 1, "the refused one is not kept");

    // Stored when every second was allowed, and due a second ago: the round after it is due
    // 30 s after it was, not a second.
    let due: f64 = admin
        .query_one(
            "UPDATE subscriptions SET schedule = '{\"second\": \"0/1\"}', \
             next_attempt_at = date_trunc('second', now()) - interval '1 second' \
             WHERE subscription_id::text = $1 \
             RETURNING extract(epoch FROM next_attempt_at)::float8",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    let next = wait_until_waiting(&admin, &id).await;
    assert_eq!(next, due + 30.0, "due at {next}, the round before at {due}");
    let got = receiver.wait_for(1);
    assert_eq!(got.len(), 1, "one empty report: {got:?}");
    assert!(got[0].leaves().is_empty());
    let pushes = pushes(&admin).await;
    assert_eq!(pushes, 1, "one round, one access-log entry");

    // A round whose delivery failed is tried again no sooner either (each try is a query and
    // an access-log entry too).
    let (refusing, _, made) = subscribed(
        &pipeline,
        &regulator,
        "ships-again",
        json!({"EQ_bizStep": "shipping"}),
        &[500],
        json!({"schedule": {"month": "1"}, "reportIfEmpty": true}),
    )
    .await;
    let again = made["subscriptionID"].as_str().unwrap().to_owned();
    let failed_after: f64 = admin
        .query_one(
            "UPDATE subscriptions SET next_attempt_at = now() - interval '1 second' \
             WHERE subscription_id::text = $1 RETURNING extract(epoch FROM now())::float8",
            &[&again],
        )
        .await
        .unwrap()
        .get(0);
    let next = wait_until_waiting(&admin, &again).await;
    assert_eq!(refusing.wait_for(1).len(), 1, "the refused delivery");
    assert!(
        next >= failed_after + 30.0,
        "tried again at {next}, failed after {failed_after}"
    );
    let (_, shown) = get(
        &pipeline,
        &format!("/queries/ships-again/subscriptions/{again}"),
        &regulator,
    )
    .await;
    assert_eq!(shown["failures"], 1, "{shown}");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brand_s_recall_is_pushed_to_a_subscription_on_recalled_events() {
    let pipeline = Pipeline::start(|config| {
        to_local_receivers(config, Duration::from_millis(50));
    })
    .await;
    // The pipeline's site is the brand: it owns the item's company prefix.
    crate::custody::register_b(&pipeline).await;
    let item = "urn:epc:id:sgtin:0614141.812345.77";
    pipeline
        .capture(vec![object(0, "ADD", &[item], "commissioning")])
        .await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let (receiver, _, _) = subscribed(
        &pipeline,
        &regulator,
        "recalls",
        json!({"EQ_disposition": "recalled"}),
        &[],
        json!({}),
    )
    .await;

    let admin = pipeline.db.connect().await.unwrap();
    let brand = registry::create_token(
        &admin,
        &ledger::SiteId::parse(crate::common::SITE).unwrap(),
        "brand",
    )
    .await
    .unwrap()
    .expose();
    let (status, recalled) = post(
        &pipeline,
        "/recalls",
        &brand,
        json!({"scope": [item], "location": crate::common::LOCATION,
               "recalledAt": crate::common::at(5), "reason": "possible listeria"}),
    )
    .await;
    assert_eq!(status, 202, "{recalled}");
    let got = receiver.wait_for(1);
    let events = got[0].json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"].clone();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["epcList"], json!([item]), "{events:?}");
    assert!(
        events[0]["disposition"]
            .as_str()
            .unwrap()
            .ends_with("recalled"),
        "{events:?}"
    );
    assert_eq!(
        events[0][LEDGER_MEMBER]["leafIndex"], recalled["receipts"][0]["leafIndex"],
        "the recall's own entry"
    );
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_started_and_stopped_deliver_each_event_exactly_once() {
    let subscribe = |config: &mut trace_api::Config| {
        to_local_receivers(config, Duration::from_millis(10));
    };
    let pipeline = Pipeline::start(subscribe).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let (receiver, _, _) = subscribed(
        &pipeline,
        &regulator,
        "ships",
        json!({"EQ_bizStep": "shipping"}),
        &[],
        json!({}),
    )
    .await;

    // A second process of the deployment delivers too, as often.
    let second = pipeline.another_trace_api(subscribe).await;
    for n in 0..8 {
        pipeline.capture(vec![shipping(10 + n, n)]).await;
    }
    let delivered = |got: &[Received]| -> Vec<u64> {
        let mut leaves: Vec<u64> = got.iter().flat_map(Received::leaves).collect();
        leaves.sort_unstable();
        leaves
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered(&receiver.got()).len() < 8 {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            delivered(&receiver.got())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        delivered(&receiver.got()),
        (0..8).collect::<Vec<u64>>(),
        "each event once, by whichever process"
    );
    // The ranges follow each other: each delivery starts where the one taken before it ended.
    let mut ranges: Vec<(u64, u64)> = receiver
        .got()
        .iter()
        .map(|got| {
            let (from, to) = got
                .header("TagTrail-Delivery-Range")
                .split_once(' ')
                .unwrap();
            (from.parse().unwrap(), to.parse().unwrap())
        })
        .collect();
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "overlapping deliveries: {ranges:?}");
    }

    // One stops, another starts (reading where to go on from the database alone): still each
    // event once, none skipped.
    second.stop().await;
    let third = pipeline.another_trace_api(subscribe).await;
    let before = receiver.got().len();
    pipeline.capture(vec![shipping(30, 30)]).await;
    let got = receiver.wait_for(before + 1);
    assert_eq!(delivered(&got), (0..9).collect::<Vec<u64>>());
    third.stop().await;
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_s_subscription_delivers_its_own_sites_events_only() {
    let pipeline = Pipeline::start(|config| {
        to_local_receivers(config, Duration::from_millis(20));
    })
    .await;
    let b_token = crate::custody::register_b(&pipeline).await;
    let partner = token(&pipeline, registry::Role::Partner, &["rival-depot"], None).await;
    let (receiver, _, _) = subscribed(
        &pipeline,
        &partner,
        "ships",
        json!({"EQ_bizStep": "shipping"}),
        &[],
        json!({}),
    )
    .await;
    // The pipeline's site ships first, then the partner's own site.
    pipeline.capture(vec![shipping(1, 0)]).await;
    let mut own = shipping(2, 1);
    own["readPoint"] = json!({"id": crate::custody::B_LOCATION});
    let (status, captured) = crate::custody::capture_as_b(&pipeline, &b_token, vec![own]).await;
    assert_eq!(status / 100, 2, "{captured}");
    let leaf = captured["receipts"][0]["leafIndex"].as_u64().unwrap();
    pipeline.wait_for_checkpoint(leaf + 1).await;
    let got = receiver.wait_for(1);
    let leaves: Vec<u64> = got.iter().flat_map(Received::leaves).collect();
    assert_eq!(
        leaves,
        [leaf],
        "only the partner's site's shipment: {got:?}"
    );
    pipeline.stop().await;
}

/// A receiver that takes each connection and never answers; once dropped, it lets them go and
/// closes any new one at once.
struct Silent {
    port: u16,
    held: Arc<Mutex<Vec<std::net::TcpStream>>>,
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl Silent {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (holding, closing) = (held.clone(), closed.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                if closing.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                } else {
                    holding.lock().unwrap().push(stream);
                }
            }
        });
        Self { port, held, closed }
    }

    fn connections(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        for stream in self.held.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// One credential's receiver never answers (the service waits up to its two-minute timeout):
/// another credential's subscription is delivered meanwhile, not after it. Before deliveries
/// were made by workers, one at a time per credential, one slow receiver held up every other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_holds_up_no_other_credential() {
    let pipeline = Pipeline::start(|config| {
        to_local_receivers(config, Duration::from_millis(20));
        config.subscriptions.timeout = Duration::from_secs(120);
    })
    .await;
    let slow = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let other = token(&pipeline, registry::Role::Regulator, &[], None).await;
    // The silent receiver's subscription is made first: due first, it is taken first.
    let silent = Silent::start();
    let dest = format!("http://127.0.0.1:{}/hook", silent.port);
    let ships = json!({"EQ_bizStep": "shipping"});
    subscribed_at(&pipeline, &slow, "ships", ships, &dest, json!({})).await;
    let (receiver, _, _) = subscribed(
        &pipeline,
        &other,
        "shipments",
        json!({"EQ_bizStep": "shipping"}),
        &[],
        json!({}),
    )
    .await;

    pipeline.capture(vec![shipping(1, 0)]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while silent.connections() == 0 {
        assert!(
            Instant::now() < deadline,
            "the silent receiver was never called"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Within 30 s, while the silent receiver still holds its delivery (120 s to run).
    let got = receiver.wait_for(1);
    assert_eq!(got[0].leaves(), [0]);
    assert_eq!(silent.connections(), 1, "the silent one was called once");
    drop(silent);
    pipeline.stop().await;
}

/// A receiver that takes two seconds to answer (well within the timeout) is charged for it: its
/// subscription's next delivery waits as long again after this one ended, so that receivers
/// answering slowly hold a worker half the time at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_waits_as_long_as_it_took_before_its_next_delivery() {
    let pipeline = Pipeline::start(|config| {
        to_local_receivers(config, Duration::from_millis(20));
    })
    .await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let receiver = Receiver::answering_after(&[], Duration::from_secs(2));
    let dest = format!("http://127.0.0.1:{}/hook", receiver.port);
    let ships = json!({"EQ_bizStep": "shipping"});
    subscribed_at(&pipeline, &regulator, "ships", ships, &dest, json!({})).await;
    pipeline.capture(vec![shipping(1, 0)]).await;
    receiver.wait_for(1);
    let admin = pipeline.db.connect().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    // The delivery's turn began (`last_notified_at`, its transaction's time) before the
    // receiver was sent it, and took at least the receiver's two seconds: its next is at least
    // two seconds after it ended, four after it began.
    let gap = loop {
        let row = admin
            .query_one(
                "SELECT extract(epoch FROM next_attempt_at - last_notified_at)::float8, \
                        next_leaf \
                 FROM subscriptions",
                &[],
            )
            .await
            .unwrap();
        if row.get::<_, i64>(1) == 1 {
            break row.get::<_, f64>(0);
        }
        assert!(Instant::now() < deadline, "the delivery was never taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(gap >= 4.0, "the next delivery {gap} s after this one began");
    pipeline.stop().await;
}

/// `DELETE path` with a bearer token: the status.
async fn delete(pipeline: &Pipeline, path: &str, token: &str) -> u16 {
    let url = format!("{}{path}", pipeline.trace_api().url);
    let headers = vec![("Authorization".to_owned(), format!("Bearer {token}"))];
    tokio::task::spawn_blocking(move || crate::common::request("DELETE", &url, &headers).0)
        .await
        .unwrap()
}

/// How many subscriptions to the named queries `names` are claimed (the claim has not lapsed).
async fn claimed(admin: &tokio_postgres::Client, names: &[&str]) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM subscription_claims c JOIN subscriptions s USING (subscription_id) \
             WHERE s.query_name = ANY($1) AND c.leased_until > clock_timestamp()",
            &[&names],
        )
        .await
        .unwrap()
        .get(0)
}

/// Waits until `silent` has been called `count` times.
async fn wait_for_calls(silent: &Silent, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while silent.connections() < count {
        assert!(
            Instant::now() < deadline,
            "the silent receiver was called {} times, not {count}",
            silent.connections()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// While its receiver never answers (two minutes to run), a delivery holds no lock and no
/// transaction: its subscription, and then its credential's next one's named query, are deleted
/// at once. The credential's claim outlasts the deletion: its next subscription is not sent
/// while the first delivery is under way (deleting and subscribing again would otherwise take
/// one more worker each time). Before deliveries held claims, the row stayed locked and each
/// `DELETE` waited a second and answered `503`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_in_flight_leaves_its_subscription_free_to_delete() {
    let pipeline = Pipeline::start(|config| {
        to_local_receivers(config, Duration::from_millis(20));
        config.subscriptions.timeout = Duration::from_secs(120);
    })
    .await;
    let slow = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let other = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let silent = Silent::start();
    let dest = format!("http://127.0.0.1:{}/hook", silent.port);
    let ships = json!({"EQ_bizStep": "shipping"});
    let made = subscribed_at(&pipeline, &slow, "ships", ships, &dest, json!({})).await;
    let id = made["subscriptionID"].as_str().unwrap();
    let (witness, _, _) = subscribed(
        &pipeline,
        &other,
        "shipments",
        json!({"EQ_bizStep": "shipping"}),
        &[],
        json!({}),
    )
    .await;
    pipeline.capture(vec![shipping(1, 0)]).await;
    wait_for_calls(&silent, 1).await;
    assert_eq!(witness.wait_for(1)[0].leaves(), [0]);
    let admin = pipeline.db.connect().await.unwrap();
    assert_eq!(
        claimed(&admin, &["ships"]).await,
        1,
        "the delivery holds its claim"
    );

    let path = format!("/queries/ships/subscriptions/{id}");
    assert_eq!(delete(&pipeline, &path, &slow).await, 204);
    let count = |sql: &'static str| {
        let admin = &admin;
        async move { admin.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(
        count("SELECT count(*) FROM subscriptions WHERE query_name = 'ships'").await,
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM subscription_claims WHERE leased_until > clock_timestamp()")
            .await,
        1,
        "the credential's claim lasts while its delivery does"
    );
    // Subscribed again: the next checkpoint reaches the other credential, not the silent one.
    let more = json!({"EQ_bizStep": "shipping"});
    subscribed_at(&pipeline, &slow, "more", more, &dest, json!({})).await;
    pipeline.capture(vec![shipping(2, 1)]).await;
    let got = witness.wait_for(2);
    let leaves: Vec<u64> = got.iter().flat_map(Received::leaves).collect();
    assert_eq!(leaves, [0, 1]);
    assert_eq!(
        silent.connections(),
        1,
        "one delivery of the credential at a time"
    );
    // Its named query goes at once too, with its subscription.
    assert_eq!(delete(&pipeline, "/queries/more", &slow).await, 204);
    assert_eq!(
        count("SELECT count(*) FROM subscriptions WHERE query_name = 'more'").await,
        0
    );
    drop(silent);
    pipeline.stop().await;
}

/// One credential's receivers never answer, and two processes deliver: only one of its two due
/// subscriptions is claimed across both, while another credential's deliveries go on through
/// both processes' workers. Before claims were made across processes (one credential's at a
/// time in each process), the second process took the second one too: one credential's
/// receivers could hold a worker in every process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_credential_s_subscriptions_are_delivered_one_at_a_time_across_processes() {
    let subscribe = |config: &mut trace_api::Config| {
        to_local_receivers(config, Duration::from_millis(10));
        config.subscriptions.timeout = Duration::from_secs(120);
    };
    let pipeline = Pipeline::start(subscribe).await;
    let second = pipeline.another_trace_api(subscribe).await;
    let slow = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let other = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let silent = Silent::start();
    let dest = format!("http://127.0.0.1:{}/hook", silent.port);
    for name in ["ships", "ships-again"] {
        let ships = json!({"EQ_bizStep": "shipping"});
        subscribed_at(&pipeline, &slow, name, ships, &dest, json!({})).await;
    }
    let (receiver, _, _) = subscribed(
        &pipeline,
        &other,
        "shipments",
        json!({"EQ_bizStep": "shipping"}),
        &[],
        json!({}),
    )
    .await;

    pipeline.capture(vec![shipping(1, 0)]).await;
    wait_for_calls(&silent, 1).await;
    // Three more checkpoints delivered to the other credential, each taken by whichever worker
    // of either process claimed it first: every worker looked for due subscriptions meanwhile.
    for n in 1..4 {
        pipeline.capture(vec![shipping(1 + n, n)]).await;
        let got = receiver.wait_for(1 + n as usize);
        let leaves: Vec<u64> = got.iter().flat_map(Received::leaves).collect();
        assert_eq!(leaves.len(), 1 + n as usize, "{leaves:?}");
    }
    let admin = pipeline.db.connect().await.unwrap();
    assert_eq!(
        silent.connections(),
        1,
        "the second subscription was not sent"
    );
    assert_eq!(claimed(&admin, &["ships", "ships-again"]).await, 1);
    let waiting: i64 = admin
        .query_one(
            "SELECT count(*) FROM subscriptions s \
             WHERE query_name IN ('ships', 'ships-again') AND next_attempt_at <= now() \
               AND next_leaf = 0 \
               AND NOT EXISTS (SELECT 1 FROM subscription_claims c \
                               WHERE c.subscription_id = s.subscription_id)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(waiting, 1, "the other is due, and waits its turn");
    drop(silent);
    second.stop().await;
    pipeline.stop().await;
}

/// A process killed in a delivery leaves its claim behind: the subscription waits until the
/// claim lapses, then another process delivers the range. The killed process's claim is written
/// as it would have left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_s_claim_holds_until_it_lapses() {
    let pipeline = Pipeline::start(|config| {
        to_local_receivers(config, Duration::from_millis(20));
    })
    .await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let other = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let (receiver, _, _) = subscribed(
        &pipeline,
        &regulator,
        "ships",
        json!({"EQ_bizStep": "shipping"}),
        &[],
        json!({}),
    )
    .await;
    let (witness, _, _) = subscribed(
        &pipeline,
        &other,
        "shipments",
        json!({"EQ_bizStep": "shipping"}),
        &[],
        json!({}),
    )
    .await;
    let admin = pipeline.db.connect().await.unwrap();
    admin
        .execute(
            "INSERT INTO subscription_claims (token_id, subscription_id, lease_id, leased_until) \
             SELECT token_id, subscription_id, gen_random_uuid(), now() + interval '1 hour' \
             FROM subscriptions WHERE query_name = 'ships'",
            &[],
        )
        .await
        .unwrap();
    pipeline.capture(vec![shipping(1, 0)]).await;
    // The other credential's is delivered; the claimed one is not.
    assert_eq!(witness.wait_for(1)[0].leaves(), [0]);
    pipeline.capture(vec![shipping(2, 1)]).await;
    assert_eq!(witness.wait_for(2)[1].leaves(), [1]);
    assert!(
        receiver.got().is_empty(),
        "a claimed subscription was delivered"
    );
    // The claim lapses: delivered from where the last recorded delivery ended.
    admin
        .execute(
            "UPDATE subscription_claims SET leased_until = now() - interval '1 second' \
             WHERE subscription_id IN \
                 (SELECT subscription_id FROM subscriptions WHERE query_name = 'ships')",
            &[],
        )
        .await
        .unwrap();
    let got = receiver.wait_for(1);
    let leaves: Vec<u64> = got.iter().flat_map(Received::leaves).collect();
    assert_eq!(leaves, [0, 1]);
    pipeline.stop().await;
}

/// A change to what a credential keeps that waits more than a second for the credential's lock
/// (another of its changes holds it) is answered `503 contended`, with `Retry-After`, and
/// changes nothing; once the other is done, the same request is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_kept_waiting_for_the_credential_s_lock_is_answered_contended() {
    let pipeline = Pipeline::start(|_| {}).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let id = registry::SiteToken::parse(&regulator)
        .unwrap()
        .id()
        .as_str()
        .to_owned();
    let admin = pipeline.db.connect().await.unwrap();
    // The lock another change of this credential holds (trace-api's `CREDENTIAL_LOCK`).
    let lock = (0x7474_0009_i32, id);
    admin
        .execute(
            "SELECT pg_advisory_lock($1, hashtext($2))",
            &[&lock.0, &lock.1],
        )
        .await
        .unwrap();
    let bearer = format!("Bearer {regulator}");
    let definition = json!({"name": "ships", "query": {"EQ_bizStep": "shipping"}});
    let body = serde_json::to_vec(&definition).unwrap();
    let (status, headers, answer) = pipeline
        .post("/queries", &[("Authorization", bearer.as_str())], &body)
        .await;
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["type"], "https://tagtrail.dev/problems/contended");
    assert_eq!(crate::common::header(&headers, "retry-after"), Some("1"));
    let kept: i64 = admin
        .query_one("SELECT count(*) FROM named_queries", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 0);

    admin
        .execute(
            "SELECT pg_advisory_unlock($1, hashtext($2))",
            &[&lock.0, &lock.1],
        )
        .await
        .unwrap();
    let (status, _, answer) = pipeline
        .post("/queries", &[("Authorization", bearer.as_str())], &body)
        .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
    pipeline.stop().await;
}

/// A process stopping while a receiver takes two seconds to answer sends nothing new, waits for
/// the answer and records it: the process after it goes on from there, and the range is sent
/// once. Before, a stop cut the delivery short and gave its claim back unrecorded, and the next
/// process sent the range again, possibly while the first send was still under way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_process_finishes_the_delivery_under_way() {
    // The pipeline's own process looks for due subscriptions once, at its start, only.
    let pipeline = Pipeline::start(|config| {
        to_local_receivers(config, Duration::from_secs(3600));
    })
    .await;
    let delivering = |config: &mut trace_api::Config| {
        to_local_receivers(config, Duration::from_millis(20));
    };
    let second = pipeline.another_trace_api(delivering).await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let receiver = Receiver::answering_after(&[], Duration::from_secs(2));
    let dest = format!("http://127.0.0.1:{}/hook", receiver.port);
    let ships = json!({"EQ_bizStep": "shipping"});
    subscribed_at(&pipeline, &regulator, "ships", ships, &dest, json!({})).await;
    pipeline.capture(vec![shipping(1, 0)]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.arrived.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the delivery never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(receiver.got().is_empty(), "answered already");

    second.stop().await;
    let admin = pipeline.db.connect().await.unwrap();
    let row = admin
        .query_one(
            "SELECT next_leaf, (SELECT count(*) FROM subscription_claims) FROM subscriptions",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i64>(1)),
        (1, 0),
        "recorded, its claim given back"
    );
    assert_eq!(receiver.got().len(), 1);

    let third = pipeline.another_trace_api(delivering).await;
    pipeline.capture(vec![shipping(2, 1)]).await;
    let got = receiver.wait_for(2);
    let leaves: Vec<u64> = got.iter().flat_map(Received::leaves).collect();
    assert_eq!(leaves, [0, 1], "each event once");
    third.stop().await;
    pipeline.stop().await;
}
