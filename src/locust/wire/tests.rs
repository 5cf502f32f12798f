//! Frames pinned against Locust 2.47.0's own `Message(...).serialize()` (msgpack 1.2), as hex.

use super::*;
use crate::locust::stats::{error_key, AGGREGATED};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

const CLIENT_READY: &str = "93ac636c69656e745f7265616479ffa27731";
const HEARTBEAT: &str =
    "93a968656172746265617483a57374617465a57265616479b163757272656e745f6370755f7573616765cb4029000000\
000000b463757272656e745f6d656d6f72795f7573616765ce00100000a27731";
const SPAWNING_COMPLETE: &str =
    "93b1737061776e696e675f636f6d706c65746582b2757365725f636c61737365735f636f756e7481a94c616d70\
695573657203aa757365725f636f756e7403a27731";
const SPAWN: &str = "93a5737061776e85a974696d657374616d70cb41da4b589c100000b2757365725f636c61737365735f636f756e7482a94c61\
6d70695573657202a54f7468657201a4686f7374b5687474703a2f2f3132372e302e302e313a38303030ac73746f705f74696d656f7574c0ae70617273\
65645f6f7074696f6e7384a96e756d5f757365727303aa737061776e5f72617465cb3ff8000000000000a8686561646c657373c3a474616773c0a27731";
const STATS: &str = "93a5737461747385a57374617473918ea46e616d65a12fa66d6574686f64a3474554b66c6173745f726571756573745f74\
696d657374616d70cb408f440000000000aa73746172745f74696d65cb408f400000000000ac6e756d5f726571756573747301b16e756d5f6e6f6e655f\
726571756573747300ac6e756d5f6661696c7572657301b3746f74616c5f726573706f6e73655f74696d65cb4029000000000000b16d61785f72657370\
6f6e73655f74696d65cb4029000000000000b16d696e5f726573706f6e73655f74696d65cb4029000000000000b4746f74616c5f636f6e74656e745f6c\
656e67746864ae726573706f6e73655f74696d6573810c01b06e756d5f726571735f7065725f73656381cd03e801b06e756d5f6661696c5f7065725f73\
656381cd03e801ab73746174735f746f74616c8ea46e616d65aa41676772656761746564a66d6574686f64a0b66c6173745f726571756573745f74696d\
657374616d70cb408f440000000000aa73746172745f74696d65cb408f400000000000ac6e756d5f726571756573747301b16e756d5f6e6f6e655f7265\
71756573747300ac6e756d5f6661696c7572657301b3746f74616c5f726573706f6e73655f74696d65cb4029000000000000b16d61785f726573706f6e\
73655f74696d65cb4029000000000000b16d696e5f726573706f6e73655f74696d65cb4029000000000000b4746f74616c5f636f6e74656e745f6c656e\
67746864ae726573706f6e73655f74696d6573810c01b06e756d5f726571735f7065725f73656381cd03e801b06e756d5f6661696c5f7065725f736563\
81cd03e801a66572726f727381d9403635346566613837653938313631643831383834636638306562663361313264613462336631393665326535346565\
363435396663656561323062373133626186a66d6574686f64a3474554a46e616d65a12fa56572726f72a84854545020353030ab6f6363757272656e6365\
7301aa66697273745f7365656ecb408f440000000000a96c6173745f7365656ecb408f440000000000b2757365725f636c61737365735f636f756e7481a9\
4c616d70695573657202aa757365725f636f756e7402a27731";

fn classes(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn simple_messages_encode_as_locust_does() {
    assert_eq!(encode(&ToMaster::ClientReady, "w1"), hex(CLIENT_READY));
    let hb = ToMaster::Heartbeat { state: State::Ready, cpu_percent: 12.5, memory_bytes: 1 << 20 };
    assert_eq!(encode(&hb, "w1"), hex(HEARTBEAT));
    let done = ToMaster::SpawningComplete { classes: classes(&[("LampiUser", 3)]) };
    assert_eq!(encode(&done, "w1"), hex(SPAWNING_COMPLETE));
}

#[test]
fn a_stats_report_encodes_as_locust_does() {
    let entry = |name: &str, method: &str| Entry {
        name: name.into(),
        method: method.into(),
        last_request_timestamp: Some(1000.5),
        start_time: 1000.0,
        num_requests: 1,
        num_failures: 1,
        total_response_time: 12.5,
        max_response_time: 12.5,
        min_response_time: Some(12.5),
        total_content_length: 100,
        response_times: BTreeMap::from([(12, 1)]),
        num_reqs_per_sec: BTreeMap::from([(1000, 1)]),
        num_fail_per_sec: BTreeMap::from([(1000, 1)]),
    };
    let error = ErrorEntry {
        method: "GET".into(),
        name: "/".into(),
        error: "HTTP 500".into(),
        occurrences: 1,
        first_seen: 1000.5,
        last_seen: 1000.5,
    };
    let report = Report {
        entries: vec![entry("/", "GET")],
        total: entry(AGGREGATED, ""),
        errors: BTreeMap::from([(error_key("GET", "/", "HTTP 500"), error)]),
    };
    let msg = ToMaster::Stats { report: Box::new(report), classes: classes(&[("LampiUser", 2)]) };
    assert_eq!(encode(&msg, "w1"), hex(STATS));
}

#[test]
fn the_masters_messages_decode() {
    let (msg, node) = decode(&hex(SPAWN)).unwrap();
    assert_eq!(node, "w1");
    let want = Spawn {
        timestamp: 1764582000.25,
        classes: classes(&[("LampiUser", 2), ("Other", 1)]),
        host: Some("http://127.0.0.1:8000".into()),
    };
    assert_eq!(msg, FromMaster::Spawn(want));
    let cases = [
        ("93a361636b81a5696e64657800a27731", FromMaster::Ack { index: 0 }),
        ("93a473746f70c0a27731", FromMaster::Stop),
        ("93a471756974c0a27731", FromMaster::Quit),
        ("93a97265636f6e6e656374c0a27731", FromMaster::Reconnect),
        ("93a968656172746265617480a27731", FromMaster::Heartbeat),
        (
            "93b17570646174655f757365725f636c61737381af757365725f636c6173735f6e616d65a158a27731",
            FromMaster::Other("update_user_class".into()),
        ),
    ];
    for (frame, want) in cases {
        assert_eq!(decode(&hex(frame)).unwrap().0, want, "{frame}");
    }
}

#[test]
fn malformed_frames_are_errors_that_say_why() {
    let err = |b: &[u8]| decode(b).unwrap_err().to_string();
    assert!(err(b"").contains("not msgpack"), "{}", err(b""));
    assert!(err(&hex("93a471756974c0a27731ff")).contains("1 byte(s) after"));
    assert!(err(&hex("92a471756974c0")).contains("[type, data, node_id]"), "two elements");
    assert!(err(&hex("93c4047175697400a27731")).contains("[type, data, node_id]"), "type as bin");
    assert!(err(&hex("a471756974")).contains("[type, data, node_id]"), "a bare string");
    // spawn without timestamp, with a negative count, with a non-string class
    let no_ts = encode_raw(Value::Array(vec!["spawn".into(), Value::Map(vec![]), "w1".into()]));
    assert!(err(&no_ts).contains("`spawn` message: no numeric `timestamp`"), "{}", err(&no_ts));
    let neg = spawn_with(Value::Map(vec![("U".into(), (-2).into())]));
    assert!(err(&neg).contains("user class \"U\": count -2"), "{}", err(&neg));
    let key = spawn_with(Value::Map(vec![(Value::from(3), 1.into())]));
    assert!(err(&key).contains("is not a string"), "{}", err(&key));
    let ack = encode_raw(Value::Array(vec!["ack".into(), Value::Nil, "w1".into()]));
    assert!(err(&ack).contains("`ack` message: no integer `index`"));
    // Deep nesting is refused, not followed.
    let mut deep = vec![0x91u8; 10_000];
    deep.push(0xc0);
    assert!(err(&deep).contains("not msgpack"));
}

fn encode_raw(v: Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &v).unwrap();
    out
}

fn spawn_with(counts: Value) -> Vec<u8> {
    let data = Value::Map(vec![("timestamp".into(), Value::F64(1.0)), ("user_classes_count".into(), counts)]);
    encode_raw(Value::Array(vec!["spawn".into(), data, "w1".into()]))
}
