use super::*;

#[test]
fn oversized_commands_are_refused_unread_with_their_size() {
    let pad = |n: usize| {
        let head = r#"{"client": "x", "on": false, "pad": ""#;
        format!("{head}{}\"}}", "a".repeat(n - head.len() - 2))
    };
    assert!(parse_command(pad(MAX_COMMAND_BYTES).as_bytes()).is_ok(), "at the limit: a valid command");
    let e = parse_command(pad(20_053).as_bytes()).unwrap_err();
    assert_eq!(e, BadCommand::TooLarge(20_053));
    assert_eq!(e.to_string(), "payload of 20,053 bytes: expected a set_config of at most 4,096 bytes");
    assert_eq!(thousands(1_048_576), "1,048,576");
    assert_eq!((thousands(0), thousands(999), thousands(1000)), ("0".into(), "999".into(), "1,000".into()));
}

fn err(s: &str) -> String {
    parse_command(s.as_bytes()).unwrap_err().to_string()
}

#[test]
fn full_and_partial_commands_parse() {
    let c = parse_command(br#"{"color": {"h": 0.44, "s": 1.0}, "brightness": 0.47, "on": true, "client": "lamp_ui"}"#)
        .unwrap();
    assert_eq!(c.client, "lamp_ui");
    assert_eq!(c.h.unwrap().hundredths(), 44);
    assert_eq!(c.brightness.unwrap().hundredths(), 47);
    assert_eq!(c.on, Some(true));
    let p = parse_command(br#"{"client": "x", "on": false}"#).unwrap();
    assert_eq!((p.h, p.s, p.brightness, p.on), (None, None, None, Some(false)));
}

#[test]
fn values_are_rounded_to_hundredths() {
    let c = parse_command(br#"{"client":"x","brightness":0.123456}"#).unwrap();
    assert_eq!(c.brightness.unwrap().hundredths(), 12);
}

#[test]
fn every_kind_of_bad_payload_says_why() {
    assert!(err("{not json").starts_with("not JSON"));
    assert!(err("[1,2]").contains("expected a JSON object"));
    assert!(err(r#"{"on": false}"#).contains("\"client\" is missing"));
    assert!(err(r#"{"client": 7}"#).contains("\"client\" is 7"));
    assert_eq!(err(r#"{"client":"x","on":"true"}"#), "\"on\" is \"true\": expected true or false");
    assert!(err(r#"{"client":"x","brightness":1.5}"#).contains("\"brightness\" is 1.5"));
    assert!(err(r#"{"client":"x","brightness":-0.2}"#).contains("from 0 to 1"));
    assert!(err(r#"{"client":"x","color":{"s":0.5}}"#).contains("\"color.h\" is missing"));
    assert!(err(r#"{"client":"x","color":{"h":0.5}}"#).contains("\"color.s\" is missing"));
    assert!(err(r#"{"client":"x","color":{"h":"red","s":1}}"#).contains("\"color.h\" is \"red\""));
    assert!(err(r#"{"client":"x","color":"red"}"#).contains("\"color\" is \"red\""));
    assert!(err(r#"{"client":"x","brightness":null}"#).contains("\"brightness\" is null"));
}

#[test]
fn a_bad_field_rejects_the_whole_message() {
    // A valid colour with an invalid `on` must not half-apply: parse fails, so nothing is applied.
    assert!(parse_command(br#"{"client":"x","color":{"h":0.1,"s":0.2},"on":1}"#).is_err());
}

#[test]
fn commands_encode_only_their_fields_and_parse_back() {
    let c = parse_command(br#"{"brightness": 0.3, "client": "app"}"#).unwrap();
    assert_eq!(parse_command(&encode_command(&c)).unwrap(), c);
    let full = parse_command(br#"{"color":{"h":0.1,"s":0.2},"brightness":0.3,"on":false,"client":"w"}"#).unwrap();
    assert_eq!(parse_command(&encode_command(&full)).unwrap(), full);
}

#[test]
fn changed_round_trips_and_matches_the_lampi_shape() {
    let st = State {
        h: Level::from_f64(0.44).unwrap(),
        s: Level::FULL,
        brightness: Level::from_f64(0.47).unwrap(),
        on: true,
    };
    let bytes = encode_changed(&st, "lamp_ui");
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v, json!({"color": {"h": 0.44, "s": 1.0}, "brightness": 0.47, "on": true, "client": "lamp_ui"}));
    assert_eq!(parse_state(&bytes).unwrap(), (st, "lamp_ui".to_string()));
    assert!(parse_state(br#"{"client":"x","on":true}"#).is_err());
}

// The typed fast path against the DOM path, and the typed encoders against the DOM encoders they replaced.

#[path = "reference.rs"]
mod reference;

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};

/// Both parsers on one payload: the same `Ok` or the same error, and the fast path, when it answers at all, answers
/// what the DOM path does. Returns whether the fast path took it.
fn agree(p: &[u8]) -> bool {
    let dom = parse_command_dom(p);
    assert_eq!(parse_command(p), dom, "parse_command vs DOM on {}", String::from_utf8_lossy(p));
    assert_eq!(
        parse_state(p).map_err(|e| e.to_string()),
        dom_state(&dom),
        "parse_state on {}",
        String::from_utf8_lossy(p)
    );
    match wire::parse(p) {
        Some(fast) => {
            assert_eq!(dom.as_ref().ok(), Some(&fast), "the fast path accepted {}", String::from_utf8_lossy(p));
            true
        }
        None => false,
    }
}

/// What parse_state said before the fast path: the DOM command, every field required.
fn dom_state(dom: &Result<Command, BadCommand>) -> Result<(State, String), String> {
    let c = dom.as_ref().map_err(|e| e.to_string())?;
    let missing = |f: &str| format!("\"{f}\" is missing: expected present in a full state");
    let (h, s) = (c.h.ok_or(missing("color"))?, c.s.ok_or(missing("color"))?);
    Ok((
        State { h, s, brightness: c.brightness.ok_or(missing("brightness"))?, on: c.on.ok_or(missing("on"))? },
        c.client.clone(),
    ))
}

const CLIENTS: &[&str] = &[
    "\"lamp_ui\"",
    "\"x\"",
    "\"l\u{e1}mpa\u{1f4a1}\"",
    "\"tab\\there\"",
    "\"q\\\"b\\\\s\"",
    "\"\\u0000\"",
    "\"\\ud83d\\udca1\"",
    "\"\\u00e9t\u{e9}\"",
    "\"\u{65e5}\u{672c}\"",
];
const LEVELS: &[&str] = &[
    "0",
    "1",
    "0.0",
    "1.0",
    "0.47",
    "0.445",
    "0.123456",
    "5E-1",
    "47e-2",
    "0.5e0",
    "-0",
    "-0.0",
    "1.0000000001",
    "0.9999999999",
    "1e-300",
    "0.01",
    "0.99",
    "100e-2",
];
/// Values no field may hold, and values only some may.
const JUNK: &[&str] = &[
    "null",
    "true",
    "false",
    "\"0.5\"",
    "\"\"",
    "[]",
    "[0.1,0.2]",
    "{}",
    "{\"h\":0.1}",
    "1.5",
    "-0.2",
    "1e400",
    "-1e400",
    "1e308",
    "123456789012345678901234567890",
    "-123456789012345678901234567890",
    "NaN",
    "Infinity",
    "7",
    "0.5",
    "\"\\ud800\"",
    "\"\\udc00x\"",
    "\"\x01\"",
    "\"\\q\"",
    "01",
    "1.",
    ".5",
    "+1",
    "0x1",
    "{\"h\":0.1,\"s\":0.2}",
    "{\"h\":0.1,\"s\":0.2,\"s\":0.3}",
    "{\"s\":0.2,\"h\":null}",
    "{\"h\":0.1,\"s\":0.2,\"x\":1}",
    "[{\"h\":0.1,\"s\":0.2}]",
];

fn level(rng: &mut StdRng) -> String {
    if rng.random_bool(0.3) {
        format!("{}", rng.random::<f64>())
    } else {
        LEVELS.choose(rng).map_or("0", |v| v).to_string()
    }
}

/// A valid set_config as (key, value) literals: every field but `client` optional, keys in any order.
fn valid_fields(rng: &mut StdRng) -> Vec<(String, Vec<u8>)> {
    let mut f = vec![("\"client\"".to_string(), CLIENTS.choose(rng).map_or("\"x\"", |c| c).as_bytes().to_vec())];
    if rng.random_bool(0.6) {
        let (h, s) = (level(rng), level(rng));
        let c = if rng.random_bool(0.5) {
            format!("{{\"h\":{h},\"s\":{s}}}")
        } else {
            format!("{{ \"s\" : {s} ,\n\"h\":{h} }}")
        };
        f.push(("\"color\"".into(), c.into_bytes()));
    }
    if rng.random_bool(0.6) {
        f.push(("\"brightness\"".into(), level(rng).into_bytes()));
    }
    if rng.random_bool(0.6) {
        f.push((
            (if rng.random_bool(0.9) { "\"on\"" } else { "\"\\u006fn\"" }).into(),
            (if rng.random_bool(0.5) { "true" } else { "false" }).into(),
        ));
    }
    f.shuffle(rng);
    f
}

fn object(rng: &mut StdRng, fields: &[(String, Vec<u8>)]) -> Vec<u8> {
    let ws = |rng: &mut StdRng| *[&b""[..], b" ", b"\n", b"\t ", b"\r\n"].choose(rng).unwrap_or(&&b""[..]);
    let mut out = b"{".to_vec();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        for part in [ws(rng), k.as_bytes(), ws(rng), b":", ws(rng), v, ws(rng)] {
            out.extend_from_slice(part);
        }
    }
    out.push(b'}');
    out
}

/// One way to spoil (or merely vary) a valid field list.
fn mutate(rng: &mut StdRng, mut f: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    let keys = ["\"client\"", "\"color\"", "\"brightness\"", "\"on\"", "\"junk\"", "\"cl\\u0069ent\"", "\"Client\""];
    let i = rng.random_range(0..f.len());
    match rng.random_range(0..8) {
        0 => f[i].1 = JUNK.choose(rng).map_or(b"null".to_vec(), |j| j.as_bytes().to_vec()),
        1 => drop(f.remove(i)),
        2 => {
            let dup = (
                f[i].0.clone(),
                if rng.random_bool(0.5) {
                    f[i].1.clone()
                } else {
                    JUNK.choose(rng).map_or(b"1".to_vec(), |j| j.as_bytes().to_vec())
                },
            );
            f.insert(rng.random_range(0..=f.len()), dup);
        }
        3 => {
            let junk =
                [&b"\"\\ud800\""[..], b"\"\xff\xfe\"", b"1e400", b"{\"a\":{\"b\":[1,2,{\"c\":null}]}}", b"\"\x01\""];
            let deep = format!("{}1{}", "[".repeat(140), "]".repeat(140)).into_bytes();
            let v = if rng.random_bool(0.2) { deep } else { junk.choose(rng).map_or(b"0".to_vec(), |j| j.to_vec()) };
            f.insert(rng.random_range(0..=f.len()), (keys.choose(rng).map_or("\"junk\"", |k| k).to_string(), v));
        }
        4 => f[i].1 = b"\"\xc3\x28bad utf-8\"".to_vec(),
        5 => f[i].0 = keys.choose(rng).map_or("\"junk\"", |k| k).to_string(),
        _ => {}
    }
    let mut p = object(rng, &f);
    match rng.random_range(0..10) {
        0 => p.truncate(rng.random_range(0..p.len())),
        1 => p = [&b"["[..], &p, b"]"].concat(),
        2 => p.extend_from_slice(b" x"),
        3 => p.extend_from_slice(b" \n"),
        4 => p = [&b"\xef\xbb\xbf"[..], &p].concat(),
        _ => {}
    }
    p
}

#[test]
fn the_fast_parser_takes_plain_commands_and_agrees_with_the_dom_parser_on_all() {
    let mut rng = StdRng::seed_from_u64(11);
    let (mut fast, mut dom_ok, mut dom_err) = (0, 0, 0);
    for _ in 0..4000 {
        let fields = valid_fields(&mut rng);
        let base = object(&mut rng, &fields);
        assert!(agree(&base), "a plain valid command must take the fast path: {}", String::from_utf8_lossy(&base));
        for cut in 0..base.len() {
            assert!(parse_command_dom(&base[..cut]).is_err());
            assert!(!agree(&base[..cut]));
        }
        let fields = valid_fields(&mut rng);
        let m = mutate(&mut rng, fields);
        fast += usize::from(agree(&m));
        match parse_command_dom(&m) {
            Ok(_) => dom_ok += 1,
            Err(_) => dom_err += 1,
        }
    }
    // The mutated corpus holds plenty of both kinds, and the fast path took some of the valid ones.
    assert!(dom_ok > 500 && dom_err > 1500 && fast > 300, "ok {dom_ok}, err {dom_err}, fast {fast}");
}

#[test]
fn the_fast_parser_declines_what_serde_would_read_more_loosely() {
    let cases: &[&[u8]] = &[
        br#"[{"h":0.1,"s":0.2},0.5,true,"x"]"#,
        br#"["x",{"h":0.1,"s":0.2},0.5,true]"#,
        br#"{"client":"x","color":[0.1,0.2]}"#,
        br#"{"client":"x","brightness":null}"#,
        br#"{"client":null,"on":true}"#,
        br#"{"client":"","on":true}"#,
        br#"{"client":"x","color":{"h":0.1,"s":null}}"#,
        br#"{"client":"x","junk":"\ud800"}"#,
        b"{\"client\":\"x\",\"junk\":\"\xff\"}",
        br#"{"client":"x","junk":1e400}"#,
        br#"{"client":"x","on":true,"on":false}"#,
        br#"{"client":"x","client":"y"}"#,
        br#"{"client":"x","brightness":1e400}"#,
        br#"{"client":"x","brightness":123456789012345678901234567890}"#,
    ];
    for p in cases {
        assert!(wire::parse(p).is_none(), "{}", String::from_utf8_lossy(p));
        agree(p);
    }
    // Duplicates: the DOM path keeps the last, and so does parse_command (by falling back).
    assert_eq!(parse_command(br#"{"client":"x","client":"y"}"#).map(|c| c.client), Ok("y".to_string()));
    assert_eq!(err(r#"{"client":"x","on":true,"on":"no"}"#), "\"on\" is \"no\": expected true or false");
    assert_eq!(
        err("{\"client\":\"x\",\"junk\":\"\\ud800\"}"),
        "not JSON: unexpected end of hex escape at line 1 column 29"
    );
    let unknown = br#"{"client":"x","on":true,"junk":{"a":[1]}}"#;
    assert_eq!(parse_command(unknown).map(|c| c.on), Ok(Some(true)), "unknown fields are still ignored");
}

fn levels(rng: &mut StdRng) -> Level {
    Level::from_hundredths(rng.random_range(0..=100)).unwrap_or(Level::ZERO)
}

#[test]
fn the_typed_encoders_write_the_dom_encoders_bytes() {
    let mut rng = StdRng::seed_from_u64(11);
    let clients = [
        "lamp_ui",
        "",
        "x",
        "l\u{e1}mpa\u{1f4a1}",
        "q\"b\\s/",
        "\u{0}\u{1f}\n\t\r\u{7f}",
        "\u{2028}\u{2029}",
        &"a".repeat(300),
    ];
    let mut n = 0;
    for h in 0..=100 {
        for client in clients {
            let level = |v| Level::from_hundredths(v).unwrap_or(Level::ZERO);
            let st = State { h: level(h), s: levels(&mut rng), brightness: level(100 - h), on: h % 2 == 0 };
            assert_eq!(encode_changed(&st, client), reference::encode_changed(&st, client), "{st} {client:?}");
            let opt = |rng: &mut StdRng| if rng.random_bool(0.5) { Some(levels(rng)) } else { None };
            for _ in 0..8 {
                let cmd = Command {
                    client: client.to_string(),
                    h: opt(&mut rng),
                    s: opt(&mut rng),
                    brightness: opt(&mut rng),
                    on: if rng.random_bool(0.5) { Some(rng.random_bool(0.5)) } else { None },
                };
                let bytes = encode_command(&cmd);
                assert_eq!(bytes, reference::encode_command(&cmd), "{cmd:?}");
                n += 1;
            }
        }
    }
    assert_eq!(n, 101 * clients.len() * 8);
    assert_eq!(
        encode_changed(&State::default(), "lamp_service"),
        br#"{"brightness":1.0,"client":"lamp_service","color":{"h":1.0,"s":1.0},"on":true}"#
    );
}
