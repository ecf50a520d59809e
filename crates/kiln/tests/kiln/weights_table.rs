//! The weights table, and downloads into the cache, against an HTTP server this test starts on
//! 127.0.0.1 (no test touches the network).

use kiln::train::pretrained::{fetch, weights_table};
use sha2::{Digest, Sha256};
use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
};

/// Every entry is for a registered architecture, with the registry's parameter count.
#[test]
fn every_table_entry_is_a_registered_architecture() {
    for e in weights_table() {
        let info = kiln::lookup(&e.arch).unwrap_or_else(|err| panic!("{}: {err}", e.name));
        assert_eq!(info.name, e.arch, "{}", e.name);
        let [min_h, min_w] = e.min_size.unwrap();
        assert!(min_h >= info.min_size.min(min_h) && min_w > 0, "{}", e.name);
    }
    let names: Vec<_> = kiln::weights::weights_for("resnet50")
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["ResNet50_Weights.IMAGENET1K_V1", "ResNet50_Weights.IMAGENET1K_V2"]
    );
}

/// A tiny HTTP/1.1 server: `/good` serves `body` with range support, `/truncated` announces the
/// whole body and closes halfway, `/norange` ignores ranges, anything else is 404. Records the
/// Range headers it saw.
fn serve(body: Vec<u8>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = ranges.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut range = None;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range = v.trim().trim_end_matches('-').parse::<usize>().ok();
                    seen.lock().unwrap().push(h.trim().to_string());
                }
            }
            let respond = |stream: &mut std::net::TcpStream, status: &str, headers: String, data: &[u8]| {
                let _ = stream.write_all(format!("HTTP/1.1 {status}\r\n{headers}Connection: close\r\n\r\n").as_bytes());
                let _ = stream.write_all(data);
            };
            match (path.as_str(), range) {
                ("/good", Some(from)) if from < body.len() => respond(
                    &mut stream,
                    "206 Partial Content",
                    format!(
                        "Content-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\n",
                        body.len() - from,
                        body.len() - 1,
                        body.len()
                    ),
                    &body[from..],
                ),
                ("/good", _) | ("/norange", _) => respond(
                    &mut stream,
                    "200 OK",
                    format!("Content-Length: {}\r\n", body.len()),
                    &body,
                ),
                ("/truncated", _) => respond(
                    &mut stream,
                    "200 OK",
                    format!("Content-Length: {}\r\n", body.len()),
                    &body[..body.len() / 2],
                ),
                _ => respond(&mut stream, "404 Not Found", "Content-Length: 0\r\n".into(), b""),
            }
        }
    });
    (base, ranges)
}

#[test]
fn fetch_verifies_resumes_and_never_leaves_a_bad_file_in_place() {
    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let hash: String = Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
    let prefix = &hash[..8];
    let (base, ranges) = serve(body.clone());
    let dir = tempfile::tempdir().unwrap();
    let name = format!("net-{prefix}.pth");
    let dest = dir.path().join(&name);
    let part = dir.path().join(format!("{name}.part"));

    // A transfer that stops halfway: an error saying how to resume, the bytes kept aside.
    let err = fetch::fetch(&format!("{base}/truncated"), dir.path(), &name, Some(prefix), |_, _| {}).unwrap_err();
    assert!(matches!(err, fetch::FetchError::Interrupted { .. }), "{err}");
    assert!(
        err.to_string().contains("run the same command again to resume"),
        "{err}"
    );
    assert!(!dest.exists());
    assert_eq!(std::fs::metadata(&part).unwrap().len(), body.len() as u64 / 2);

    // The next try resumes with a range request and puts the verified file in place.
    let got = fetch::fetch(&format!("{base}/good"), dir.path(), &name, Some(prefix), |_, _| {}).unwrap();
    assert_eq!(got, dest);
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert!(!part.exists());
    assert_eq!(*ranges.lock().unwrap(), [format!("range: bytes={}-", body.len() / 2)]);
    // Already there and verified: nothing is downloaded.
    fetch::fetch(&format!("{base}/missing"), dir.path(), &name, Some(prefix), |_, _| {}).unwrap();

    // A server that ignores the range: the part restarts from zero.
    let other = format!("other-{prefix}.pth");
    std::fs::write(dir.path().join(format!("{other}.part")), b"garbage").unwrap();
    let got = fetch::fetch(&format!("{base}/norange"), dir.path(), &other, Some(prefix), |_, _| {}).unwrap();
    assert_eq!(std::fs::read(got).unwrap(), body);

    // Content that does not hash to the name's prefix: deleted, never put in place.
    let wrong = "wrong-00000000.pth";
    let err = fetch::fetch(&format!("{base}/good"), dir.path(), wrong, Some("00000000"), |_, _| {}).unwrap_err();
    assert!(
        err.to_string().contains(&format!("starts with {prefix}, not 00000000")),
        "{err}"
    );
    assert!(!dir.path().join(wrong).exists() && !dir.path().join(format!("{wrong}.part")).exists());

    // 404.
    let err = fetch::fetch(
        &format!("{base}/missing"),
        dir.path(),
        "x-12345678.pth",
        Some("12345678"),
        |_, _| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    assert!(!dir.path().join("x-12345678.pth").exists());

    // Keras's files are published with their md5: checked likewise.
    let md5 = fetch::md5_file(&dest).unwrap();
    assert_eq!(md5.len(), 32);
    let keras = "vgg16_weights_tf_dim_ordering_tf_kernels.h5";
    let got = fetch::fetch(
        &format!("{base}/good"),
        dir.path(),
        keras,
        Some(&format!("md5:{md5}")),
        |_, _| {},
    )
    .unwrap();
    assert_eq!(std::fs::read(got).unwrap(), body);
    let err = fetch::fetch(
        &format!("{base}/good"),
        dir.path(),
        "other.h5",
        Some("md5:64373286793e3c8b2b4e3219cbf3544b"),
        |_, _| {},
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("md5 is {md5}, not 64373286793e3c8b2b4e3219cbf3544b")),
        "{err}"
    );
    assert!(!dir.path().join("other.h5").exists());
}

/// A table name resolves to a cached file; an uncached one says how to fetch it.
#[test]
fn table_names_resolve_to_cached_files() {
    let dir = tempfile::tempdir().unwrap();
    let err = kiln::weights::resolve_weights_in(
        std::path::Path::new("ResNet18_Weights.IMAGENET1K_V1"),
        &[dir.path().to_path_buf()],
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("cargo xtask weights fetch ResNet18_Weights.IMAGENET1K_V1"),
        "{err}"
    );
    let cached = dir.path().join("resnet18-f37072fd.pth");
    std::fs::copy(super::parity::fixtures().join("lenet5.pth"), &cached).unwrap();
    let file = kiln::weights::resolve_weights_in(
        std::path::Path::new("ResNet18_Weights.IMAGENET1K_V1"),
        &[dir.path().to_path_buf()],
    )
    .unwrap();
    assert_eq!(file.path, cached);
    assert_eq!(file.entry.unwrap().arch, "resnet18");
    assert!(
        file.hash_mismatch.is_some(),
        "a LeNet-5 file is not ResNet-18's published one"
    );
    let err = kiln::weights::resolve_weights_in(std::path::Path::new("no-such-weights"), &[])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no such file, and no weights of that name"), "{err}");
}
