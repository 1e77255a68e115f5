//! WebSocket subscriptions (`GET /queries/{name}/events?stream=true` with `Upgrade: websocket`):
//! each event recorded after the stream opened that the named query matches arrives once, in
//! log order, recorded in the access log first; pings are answered; a revoked credential or a
//! deleted named query ends the stream saying why; each bad request is refused with the reason.

use std::time::Duration;

use actix_http::ws::{CloseCode, Codec, Frame, Message};
use actix_web::web::{Bytes, BytesMut};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder as _, Encoder as _};

use crate::common::{Pipeline, object};
use crate::query::token;
use crate::subscriptions::shipping;

const LEDGER_MEMBER: &str = "https://tagtrail.dev/ns/ledger#entry";
/// RFC 6455's sample key and the accept value it calls for.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A WebSocket client of trace-api (the frames are actix's codec, in client mode: masked).
struct Socket {
    stream: TcpStream,
    codec: Codec,
    buffer: BytesMut,
}

/// Opens `path` as a WebSocket with `headers`: the socket, or the status and body of the answer
/// that refused it.
async fn connect(
    pipeline: &Pipeline,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, (u16, Value)> {
    let address = pipeline.trace.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buffer = BytesMut::new();
    let end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        assert!(stream.read_buf(&mut buffer).await.unwrap() > 0, "no answer");
    };
    let head = String::from_utf8(buffer.split_to(end).to_vec()).unwrap();
    let status: u16 = head[9..12].parse().unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_default()
    };
    if status != 101 {
        let length: usize = header("content-length").parse().unwrap_or(0);
        while buffer.len() < length {
            assert!(stream.read_buf(&mut buffer).await.unwrap() > 0);
        }
        return Err((
            status,
            serde_json::from_slice(&buffer).unwrap_or(Value::Null),
        ));
    }
    assert_eq!(header("sec-websocket-accept"), ACCEPT, "{head}");
    Ok(Socket {
        stream,
        codec: Codec::new().client_mode(),
        buffer,
    })
}

impl Socket {
    /// The next frame, within 30 s.
    async fn next(&mut self) -> Frame {
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Some(frame) = self.codec.decode(&mut self.buffer).unwrap() {
                    return frame;
                }
                let read = self.stream.read_buf(&mut self.buffer).await.unwrap();
                assert!(read > 0, "the stream ended without a close frame");
            }
        })
        .await
        .expect("a frame within 30 s")
    }

    async fn send(&mut self, message: Message) {
        let mut frame = BytesMut::new();
        self.codec.encode(message, &mut frame).unwrap();
        self.stream.write_all(&frame).await.unwrap();
    }

    /// The documents of the next text messages until they hold `events` events in all.
    async fn documents(&mut self, events: usize) -> Vec<Value> {
        let mut documents: Vec<Value> = Vec::new();
        while documents.iter().map(event_list_len).sum::<usize>() < events {
            match self.next().await {
                Frame::Text(text) => documents.push(serde_json::from_slice(&text).unwrap()),
                Frame::Ping(_) | Frame::Pong(_) => {}
                other => panic!("{other:?} before {events} events"),
            }
        }
        documents
    }
}

fn event_list(document: &Value) -> &Vec<Value> {
    document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        .as_array()
        .unwrap()
}

fn event_list_len(document: &Value) -> usize {
    event_list(document).len()
}

/// The first EPC of each event the documents hold, in order.
fn first_epcs(documents: &[Value]) -> Vec<&str> {
    documents
        .iter()
        .flat_map(event_list)
        .map(|event| event["epcList"][0].as_str().unwrap())
        .collect()
}

/// A pipeline whose subscriptions look for new events every 20 ms, with a regulator's token and
/// its named query `ships` (shipping events).
async fn pipeline_with_query(adjust: impl FnOnce(&mut trace_api::Config)) -> (Pipeline, String) {
    let pipeline = Pipeline::start(|config| {
        config.subscriptions.interval = Duration::from_millis(20);
        adjust(config);
    })
    .await;
    let regulator = token(&pipeline, registry::Role::Regulator, &[], None).await;
    let definition = json!({"name": "ships", "query": {"EQ_bizStep": "shipping"}});
    let (status, _, body) = pipeline
        .post(
            "/queries",
            &[("Authorization", &format!("Bearer {regulator}"))],
            &serde_json::to_vec(&definition).unwrap(),
        )
        .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    (pipeline, regulator)
}

const STREAM: &str = "/queries/ships/events?stream=true";

/// The gauge of open WebSocket streams, as `/metrics` shows it.
async fn streams_open(pipeline: &Pipeline) -> i64 {
    let (_, metrics) = pipeline.get_text("/metrics").await;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("trace_streams_open "))
        .expect("the gauge is exported")
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_sends_each_new_matching_event_once_recorded_until_its_token_is_revoked() {
    let (pipeline, regulator) = pipeline_with_query(|_| {}).await;
    let bearer = format!("Bearer {regulator}");
    // Recorded before the stream opens: not sent (GET /queries/ships/events reads it).
    pipeline.capture(vec![shipping(1, 0)]).await;
    let mut socket = connect(&pipeline, STREAM, &[("Authorization", &bearer)])
        .await
        .unwrap();
    // Two shipments and, between them, an event the query does not match.
    pipeline
        .capture(vec![
            shipping(2, 1),
            object(
                2,
                "OBSERVE",
                &["urn:epc:id:sgtin:0614141.812345.3"],
                "receiving",
            ),
            shipping(4, 3),
        ])
        .await;
    let documents = socket.documents(2).await;
    let events: Vec<&Value> = documents.iter().flat_map(event_list).collect();
    assert_eq!(
        first_epcs(&documents),
        [
            "urn:epc:id:sgtin:0614141.812345.2",
            "urn:epc:id:sgtin:0614141.812345.4"
        ]
    );
    let leaves: Vec<u64> = events
        .iter()
        .map(|event| event[LEDGER_MEMBER]["leafIndex"].as_u64().unwrap())
        .collect();
    assert!(leaves[0] < leaves[1], "{leaves:?}");
    for document in &documents {
        assert_eq!(document["type"], "EPCISQueryDocument");
        assert_eq!(document["epcisBody"]["queryResults"]["queryName"], "ships");
    }
    // Each message was recorded in the access log before it was sent.
    let admin = pipeline.db.connect().await.unwrap();
    let recorded: i64 = admin
        .query_one(
            "SELECT count(*) FROM access_log WHERE entry LIKE $1",
            &[&format!("%\"method\":\"PUSH\",\"target\":\"{STREAM}\"%")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, i64::try_from(documents.len()).unwrap());

    // A ping is answered with its data.
    socket
        .send(Message::Ping(Bytes::from_static(b"are you there")))
        .await;
    loop {
        match socket.next().await {
            Frame::Pong(data) => {
                assert_eq!(&data[..], b"are you there");
                break;
            }
            Frame::Ping(_) => {}
            other => panic!("{other:?} instead of the pong"),
        }
    }

    // A second stream of the same token, ended by deleting its named query; the first, by
    // revoking the token.
    let mut second = connect(&pipeline, STREAM, &[("Authorization", &bearer)])
        .await
        .unwrap();
    admin
        .execute("DELETE FROM named_queries WHERE name = 'ships'", &[])
        .await
        .unwrap();
    for socket in [&mut second, &mut socket] {
        match socket.next().await {
            Frame::Close(Some(reason)) => {
                assert_eq!(reason.code, CloseCode::Normal, "{reason:?}");
                assert!(
                    reason.description.unwrap().contains("no named query"),
                    "the deleted query is named"
                );
            }
            other => panic!("{other:?} instead of a close"),
        }
    }
    let (status, _, body) = pipeline
        .post(
            "/queries",
            &[("Authorization", &bearer)],
            &serde_json::to_vec(&json!({"name": "ships", "query": {}})).unwrap(),
        )
        .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let mut third = connect(&pipeline, STREAM, &[("Authorization", &bearer)])
        .await
        .unwrap();
    registry::revoke_access_token(
        &admin,
        &registry::TokenId::parse(&regulator[3..19]).unwrap(),
    )
    .await
    .unwrap();
    match third.next().await {
        Frame::Close(Some(reason)) => {
            assert_eq!(reason.code, CloseCode::Policy, "{reason:?}");
            assert!(reason.description.unwrap().contains("revoked"));
        }
        other => panic!("{other:?} instead of a close"),
    }
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_requests_of_another_form_are_refused_with_the_reason() {
    let (pipeline, regulator) = pipeline_with_query(|config| {
        config.subscriptions.max_per_token = 1;
        config.grants.keys = vec![crate::grants::issuer().verifier_key().to_string()];
    })
    .await;
    let bearer = format!("Bearer {regulator}");
    let auth = [("Authorization", bearer.as_str())];
    let refused = |answer: Result<Socket, (u16, Value)>, status: u16, says: &str| {
        let Err((got, body)) = answer else {
            panic!("a stream opened where {status} was due");
        };
        assert_eq!(got, status, "{body}");
        let detail = body["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.contains(says), "{says:?} not in {detail:?}");
    };
    refused(connect(&pipeline, STREAM, &[]).await, 401, "access token");
    refused(
        connect(&pipeline, "/queries/nothing/events?stream=true", &auth).await,
        404,
        "no named query",
    );
    // Controls a subscription cannot have: the binding's SubscriptionControlsException.
    for (path, says) in [
        ("/queries/ships/events?stream=true&minute=5", "not both"),
        (
            "/queries/ships/events?reportIfEmpty=true",
            "gives stream=true",
        ),
        ("/queries/ships/events?stream=false", "stream=false"),
        (
            "/queries/ships/events?minute=99",
            "schedule.minute \"99\": 99 is not within 0 to 59",
        ),
        (
            "/queries/ships/events?minute=5&minute=6",
            "minute is given twice",
        ),
        (
            "/queries/ships/events?second=0/1&reportIfEmpty=true",
            "the schedule names times 1 s apart",
        ),
        (
            "/queries/ships/events?stream=true&reportIfEmpty=true",
            "reportIfEmpty: a stream sends what it finds",
        ),
        (
            "/queries/ships/events?hour=1&reportIfEmpty=yes",
            "true or false",
        ),
    ] {
        let answer = connect(&pipeline, path, &auth).await;
        if let Err((_, body)) = &answer {
            assert_eq!(
                body["type"], "epcisException:SubscriptionControlsException",
                "{path}: {body}"
            );
        }
        refused(answer, 400, says);
    }
    refused(
        connect(
            &pipeline,
            "/queries/ships/events?stream=true&perPage=5",
            &auth,
        )
        .await,
        400,
        "perPage is not a parameter of a WebSocket subscription",
    );
    refused(
        connect(
            &pipeline,
            "/queries/ships/events?stream=true&initialRecordTime=2999-01-01T00:00:00Z",
            &auth,
        )
        .await,
        400,
        "initialRecordTime is in the future",
    );
    // A grant that may query but not subscribe.
    let id = crate::grants::issue(
        &pipeline,
        ledger::grant::Role::Regulator,
        &[],
        &[ledger::grant::Permission::Query],
        3600,
    )
    .await;
    let grantee = crate::grants::grantee();
    let signed = crate::grants::signed(
        &grantee,
        &id,
        "GET",
        STREAM,
        None,
        crate::grants::now(),
        "ws",
    );
    let signed: Vec<(&str, &str)> = signed
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    refused(
        connect(&pipeline, STREAM, &signed).await,
        403,
        "`subscribe`",
    );
    // stream=true without the handshake.
    let (status, _, body) = pipeline.get_with(STREAM, &auth).await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("not its handshake"),
        "{body}"
    );
    // One stream per token here: a second is refused until the first closes.
    let mut first = connect(&pipeline, STREAM, &auth).await.unwrap();
    refused(
        connect(&pipeline, STREAM, &auth).await,
        422,
        "WebSocket streams open",
    );
    // A client's message: the stream takes none, and closes.
    first.send(Message::Text("hello".into())).await;
    match first.next().await {
        Frame::Close(Some(reason)) => assert_eq!(reason.code, CloseCode::Unsupported),
        other => panic!("{other:?} instead of a close"),
    }
    drop(first);
    // Its place is given back once the stream is over.
    let mut opened = None;
    for _ in 0..300 {
        match connect(&pipeline, STREAM, &auth).await {
            Ok(socket) => {
                opened = Some(socket);
                break;
            }
            Err((422, _)) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err((status, body)) => panic!("{status} {body}"),
        }
    }
    let mut again = opened.expect("the closed stream's place was given back within 6 s");
    assert_eq!(streams_open(&pipeline).await, 1);
    again.send(Message::Close(None)).await;
    assert!(matches!(again.next().await, Frame::Close(_)));
    drop(again);
    // Every stream that ended, whichever way, is counted closed.
    for _ in 0..300 {
        if streams_open(&pipeline).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(streams_open(&pipeline).await, 0);
    pipeline.stop().await;
}

/// A scheduled WebSocket subscription (the schedule's fields as query parameters, every two
/// seconds here): each round sends what is new, each event once, and with reportIfEmpty a round
/// that found nothing sends one empty document; each recorded in the access log first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_stream_sends_what_is_new_at_its_times_each_once() {
    let (pipeline, regulator) = pipeline_with_query(|config| {
        config.subscriptions.min_schedule_interval = Duration::from_secs(2);
    })
    .await;
    let bearer = format!("Bearer {regulator}");
    pipeline.capture(vec![shipping(1, 0)]).await;
    pipeline.wait_for_checkpoint(1).await;
    let path = "/queries/ships/events?second=0/2&reportIfEmpty=true";
    let mut socket = connect(&pipeline, path, &[("Authorization", &bearer)])
        .await
        .unwrap();
    // Its first round: nothing new since it opened, said once.
    let first = next_document(&mut socket).await;
    assert!(event_list(&first).is_empty(), "{first}");
    // Two shipments: sent by a round, each once, and then a round with nothing new says so.
    pipeline.capture(vec![shipping(2, 1), shipping(3, 2)]).await;
    let mut events = Vec::new();
    let empty = loop {
        let document = next_document(&mut socket).await;
        if event_list(&document).is_empty() && events.len() == 2 {
            break document;
        }
        events.extend(
            first_epcs(std::slice::from_ref(&document))
                .into_iter()
                .map(str::to_owned),
        );
        assert!(events.len() <= 2, "{events:?}");
    };
    assert_eq!(
        events,
        [
            "urn:epc:id:sgtin:0614141.812345.2",
            "urn:epc:id:sgtin:0614141.812345.3"
        ]
    );
    assert_eq!(empty["epcisBody"]["queryResults"]["queryName"], "ships");
    let admin = pipeline.db.connect().await.unwrap();
    let recorded: i64 = admin
        .query_one(
            "SELECT count(*) FROM access_log \
             WHERE entry LIKE '%\"method\":\"PUSH\",\"target\":\"/queries/ships/events\"%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(recorded >= 3, "each message recorded: {recorded}");
    pipeline.stop().await;
}

/// A stream with initialRecordTime starts at the first entry recorded then: what was recorded
/// before it opened is sent first, then what comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_from_an_initial_record_time_sends_the_backlog_first() {
    let (pipeline, regulator) = pipeline_with_query(|config| {
        config.subscriptions.record_time_skew = Duration::ZERO;
    })
    .await;
    let bearer = format!("Bearer {regulator}");
    pipeline.capture(vec![shipping(1, 0)]).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let since =
        ledger::UnixMillis::from_millis(u64::try_from(now.as_millis()).unwrap()).to_rfc3339();
    pipeline.capture(vec![shipping(2, 1)]).await;
    pipeline.wait_for_checkpoint(2).await;
    let path = format!("{STREAM}&initialRecordTime={since}");
    let mut socket = connect(&pipeline, &path, &[("Authorization", &bearer)])
        .await
        .unwrap();
    pipeline.capture(vec![shipping(3, 2)]).await;
    let documents = socket.documents(2).await;
    assert_eq!(
        first_epcs(&documents),
        [
            "urn:epc:id:sgtin:0614141.812345.2",
            "urn:epc:id:sgtin:0614141.812345.3"
        ],
        "the one recorded before initialRecordTime is not sent"
    );
    pipeline.stop().await;
}

/// A backlog is sent without waiting between messages: with a round every minute and one event
/// a message, three events recorded before the stream opened arrive one after another (each
/// within the client's 30 s), not a minute apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_s_backlog_is_sent_as_fast_as_the_client_reads() {
    let (pipeline, regulator) = pipeline_with_query(|config| {
        config.subscriptions.interval = Duration::from_secs(60);
        config.subscriptions.events_per_delivery = 1;
        config.subscriptions.record_time_skew = Duration::ZERO;
    })
    .await;
    let bearer = format!("Bearer {regulator}");
    pipeline
        .capture(vec![shipping(1, 0), shipping(2, 1), shipping(3, 2)])
        .await;
    pipeline.wait_for_checkpoint(3).await;
    let path = format!("{STREAM}&initialRecordTime=2000-01-01T00:00:00Z");
    let mut socket = connect(&pipeline, &path, &[("Authorization", &bearer)])
        .await
        .unwrap();
    let documents = socket.documents(3).await;
    assert_eq!(documents.len(), 3, "one event a message");
    assert_eq!(
        first_epcs(&documents),
        [
            "urn:epc:id:sgtin:0614141.812345.1",
            "urn:epc:id:sgtin:0614141.812345.2",
            "urn:epc:id:sgtin:0614141.812345.3"
        ]
    );
    pipeline.stop().await;
}

/// A stream's backlog is charged to its client's byte rate, as its requests' answers are: a
/// client that streams a backlog faster than its rate is soon in debt, and its next request that
/// loads events is refused (`429`) until the rate has paid it back. Before, streams were charged
/// to no one: a client could pump the whole log through sixteen of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_s_backlog_is_charged_to_its_client_s_byte_rate() {
    let (pipeline, regulator) = pipeline_with_query(|config| {
        config.subscriptions.events_per_delivery = 1;
        config.subscriptions.record_time_skew = Duration::ZERO;
        // 64 KiB at once (a few pages of the backlog), then 1 KiB a second.
        config.limits.max_answer_bytes = 64 * 1024;
        config.limits.max_inflight_bytes = 256 * 1024;
        config.limits.max_event_bytes = 4 * 1024;
        config.limits.answer_bytes_per_second = 1024;
    })
    .await;
    let bearer = format!("Bearer {regulator}");
    let backlog: Vec<Value> = (0..200).map(|n| shipping(100 + n, n)).collect();
    pipeline.capture(backlog).await;
    pipeline.wait_for_checkpoint(200).await;
    let path = format!("{STREAM}&initialRecordTime=2000-01-01T00:00:00Z");
    let mut socket = connect(&pipeline, &path, &[("Authorization", &bearer)])
        .await
        .unwrap();
    assert_eq!(socket.documents(1).await.len(), 1);
    // A history that loads nothing is refused once the stream has loaded more than the rate
    // has paid back.
    let nothing = "/items/urn:epc:id:sgtin:0614141.812345.999999/history";
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = pipeline.get(nothing).await;
        if status == 429 {
            assert_eq!(
                body["type"],
                "https://tagtrail.dev/problems/answer-bytes-spent"
            );
            break;
        }
        assert_eq!(status, 200, "{body}");
        assert!(
            std::time::Instant::now() < deadline,
            "the stream's loading was never charged to its client"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pipeline.stop().await;
}

/// The next text message's document (pings skipped).
async fn next_document(socket: &mut Socket) -> Value {
    loop {
        match socket.next().await {
            Frame::Text(text) => return serde_json::from_slice(&text).unwrap(),
            Frame::Ping(_) | Frame::Pong(_) => {}
            other => panic!("{other:?} instead of a message"),
        }
    }
}
