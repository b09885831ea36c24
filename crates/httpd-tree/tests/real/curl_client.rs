//! curl: whole and partial downloads, multipart ranges, conditional requests, HEAD,
//! keep-alive, listings and content types.

use crate::support::{ADMIN_TOKEN, Server, curl, curl_status, lab, sha256_hex};

const KERNEL: &str = "/trees/centos7/images/pxeboot/vmlinuz";

fn headers(server: &Server, extra: &[&str]) -> String {
    let url = server.url(KERNEL);
    let mut args = vec!["-s", "-D", "-", "-o", "/dev/null"];
    args.extend_from_slice(extra);
    args.push(&url);
    String::from_utf8(curl(&args)).expect("utf-8")
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

#[test]
fn byte_identical_download() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let body = curl(&["-sf", &server.url(KERNEL)]);
    assert_eq!(body.len(), lab.kernel.len());
    assert_eq!(sha256_hex(&body), sha256_hex(&lab.kernel));
    // Through a symlink inside the tree, the same bytes.
    let via_link = curl(&["-sf", &server.url("/trees/centos7/vmlinuz-link")]);
    assert_eq!(sha256_hex(&via_link), sha256_hex(&lab.kernel));
}

#[test]
fn single_suffix_and_open_ranges() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let k = &lab.kernel;
    let len = k.len();
    for (range, want) in [
        ("0-99".to_owned(), &k[..100]),
        (
            format!("{}-{}", 1_000_000, 1_262_143),
            &k[1_000_000..=1_262_143],
        ),
        ("-500".to_owned(), &k[len - 500..]),
        (format!("{}-", len - 10), &k[len - 10..]),
        (format!("0-{}", len * 2), &k[..]),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("part");
        let code = curl_status(&["-r", &range, &server.url(KERNEL)], &out);
        assert_eq!(code, 206, "{range}");
        let got = std::fs::read(&out).expect("read");
        assert_eq!(got.len(), want.len(), "{range}");
        assert!(got == want, "{range}: bytes differ");
    }
    // A small file (read with its open) takes ranges the same way.
    let url = server.url("/trees/centos7/.treeinfo");
    assert_eq!(curl(&["-sf", "-r", "1-7", &url]), b"general");
    assert_eq!(curl(&["-sf", "-r", "-7", &url]), b"x86_64\n");
    let multi = String::from_utf8(curl(&["-sf", "-r", "0-0,1-7", &url])).expect("utf-8");
    assert!(
        multi.contains("Content-Range: bytes 1-7/") && multi.contains("\r\n\r\ngeneral\r\n--"),
        "{multi}"
    );
    let head = headers(&server, &["-r", "-500"]);
    assert_eq!(
        header(&head, "content-range").as_deref(),
        Some(format!("bytes {}-{}/{len}", len - 500, len - 1).as_str())
    );
    assert_eq!(header(&head, "content-length").as_deref(), Some("500"));
}

#[test]
fn unsatisfiable_range_is_416_with_the_length() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let len = lab.kernel.len();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("x");
    let code = curl_status(&["-r", &format!("{len}-"), &server.url(KERNEL)], &out);
    assert_eq!(code, 416);
    let head = headers(&server, &["-r", &format!("{}-{}", len + 5, len + 10)]);
    assert!(head.starts_with("HTTP/1.1 416"), "{head}");
    assert_eq!(
        header(&head, "content-range"),
        Some(format!("bytes */{len}"))
    );
}

#[test]
fn multiple_ranges_as_multipart_byteranges() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let k = &lab.kernel;
    let len = k.len();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("multi");
    let head_file = dir.path().join("head");
    let url = server.url(KERNEL);
    let args = [
        "-s",
        "-D",
        head_file.to_str().expect("path"),
        "-o",
        out.to_str().expect("path"),
        "-r",
        "0-9,1000-1999,-100",
        url.as_str(),
    ];
    curl(&args);
    let head = std::fs::read_to_string(&head_file).expect("head");
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    let ctype = header(&head, "content-type").expect("content-type");
    let boundary = ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{ctype}"));
    let body = std::fs::read(&out).expect("body");
    assert_eq!(
        header(&head, "content-length").and_then(|l| l.parse::<usize>().ok()),
        Some(body.len())
    );
    // Walk the parts: each has its Content-Range and exactly those bytes.
    let delim = format!("\r\n--{boundary}");
    let text_positions: Vec<usize> = body
        .windows(delim.len())
        .enumerate()
        .filter(|(_, w)| *w == delim.as_bytes())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        text_positions.len(),
        4,
        "three parts and the closing delimiter"
    );
    assert!(body.ends_with(format!("\r\n--{boundary}--\r\n").as_bytes()));
    let wants = [(0usize, 9usize), (1000, 1999), (len - 100, len - 1)];
    for (i, (first, last)) in wants.iter().enumerate() {
        let part = &body[text_positions[i] + delim.len()..text_positions[i + 1]];
        let split = part
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("part head");
        let part_head = String::from_utf8_lossy(&part[..split]);
        assert!(
            part_head.contains(&format!("Content-Range: bytes {first}-{last}/{len}")),
            "{part_head}"
        );
        assert!(part_head.contains("Content-Type: application/octet-stream"));
        assert!(part[split + 4..] == k[*first..=*last], "part {i} bytes");
    }
}

#[test]
fn conditional_requests() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let head = headers(&server, &[]);
    let etag = header(&head, "etag").expect("etag");
    let last_modified = header(&head, "last-modified").expect("last-modified");
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "a strong tag: {etag}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("x");
    let url = server.url(KERNEL);
    let inm = format!("If-None-Match: {etag}");
    let ims = format!("If-Modified-Since: {last_modified}");
    let ifr = format!("If-Range: {etag}");
    let ifr_date = format!("If-Range: {last_modified}");
    assert_eq!(curl_status(&["-H", &inm, &url], &out), 304);
    assert_eq!(std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0), 0);
    assert_eq!(
        curl_status(&["-H", "If-None-Match: \"nope\"", &url], &out),
        200
    );
    assert_eq!(curl_status(&["-H", &ims, &url], &out), 304);
    assert_eq!(
        curl_status(
            &[
                "-H",
                "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT",
                &url
            ],
            &out
        ),
        200
    );
    // curl's own -z sends If-Modified-Since from a date.
    assert_eq!(curl_status(&["-z", &last_modified, &url], &out), 304);
    assert_eq!(curl_status(&["-r", "0-99", "-H", &ifr, &url], &out), 206);
    assert_eq!(std::fs::read(&out).expect("read").len(), 100);
    assert_eq!(
        curl_status(&["-r", "0-99", "-H", &ifr_date, &url], &out),
        206
    );
    assert_eq!(
        curl_status(&["-r", "0-99", "-H", "If-Range: \"changed\"", &url], &out),
        200
    );
    assert_eq!(std::fs::read(&out).expect("read").len(), lab.kernel.len());
    assert_eq!(
        curl_status(&["-H", "If-Match: \"changed\"", &url], &out),
        412
    );
    // A new file under the same name gets a new tag.
    std::fs::write(
        lab.tree("centos7").join("images/pxeboot/vmlinuz"),
        b"new kernel",
    )
    .expect("write");
    assert_eq!(curl_status(&["-H", &inm, &url], &out), 200);
    assert_eq!(std::fs::read(&out).expect("read"), b"new kernel");
}

#[test]
fn head_has_the_headers_and_no_body() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let url = server.url(KERNEL);
    let out = curl(&["-s", "-I", &url]);
    let head = String::from_utf8(out).expect("utf-8");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        header(&head, "content-length"),
        Some(lab.kernel.len().to_string())
    );
    assert_eq!(header(&head, "accept-ranges").as_deref(), Some("bytes"));
    assert_eq!(
        header(&head, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(
        header(&head, "content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert!(header(&head, "etag").is_some() && header(&head, "last-modified").is_some());
    // Two HEADs and a GET on one connection: no stray body bytes desynchronise it.
    let out = curl(&["-s", "-v", "-I", &url, "-I", &url]);
    assert_eq!(
        String::from_utf8_lossy(&out)
            .matches("HTTP/1.1 200")
            .count(),
        2
    );
    // Answer files answer HEAD too, without changing the machine's state.
    let head = String::from_utf8(curl(&["-s", "-I", &server.url("/ks/web01")])).expect("utf-8");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let admin = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let api = String::from_utf8(curl(&[
        "-s",
        "-H",
        &admin,
        &server.url("/api/v1/machines/web01"),
    ]))
    .expect("utf-8");
    assert!(api.contains("\"state\": \"pending\""), "{api}");
}

#[test]
fn keep_alive_reuses_one_connection() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let a = server.url(KERNEL);
    let b = server.url("/trees/centos7/.treeinfo");
    let c = server.url("/ks/web01");
    let o = crate::support::run(
        "curl",
        "curl",
        &[
            "-sv",
            "-o",
            "/dev/null",
            &a,
            "-o",
            "/dev/null",
            &b,
            "-o",
            "/dev/null",
            &c,
        ],
    );
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let reused = err.matches("Re-using existing connection").count()
        + err.matches("Reusing existing connection").count();
    assert_eq!(reused, 2, "{err}");
    assert_eq!(err.matches("Connected to 127.0.0.1").count(), 1, "{err}");
}

#[test]
fn listings_escape_names_and_link_them() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let html =
        String::from_utf8(curl(&["-sf", &server.url("/trees/centos7/Packages/")])).expect("utf-8");
    assert!(
        html.contains("a &lt;b&gt; &amp; &quot;c&quot;.rpm"),
        "{html}"
    );
    assert!(!html.contains("<b>"));
    let href = "./a%20%3Cb%3E%20%26%20%22c%22.rpm";
    assert!(html.contains(href), "{html}");
    let rpm = curl(&[
        "-sf",
        &server.url(&format!("/trees/centos7/Packages/{}", &href[2..])),
    ]);
    assert_eq!(rpm, b"rpm");
    // Without the slash: a redirect that curl follows.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("x");
    assert_eq!(
        curl_status(&[&server.url("/trees/centos7/Packages")], &out),
        301
    );
    assert_eq!(
        curl_status(&["-L", &server.url("/trees/centos7/Packages")], &out),
        200
    );
    let trees = String::from_utf8(curl(&["-sf", &server.url("/trees/")])).expect("utf-8");
    for d in ["centos7/", "debian12/", "ubuntu2404/"] {
        assert!(trees.contains(d), "{trees}");
    }
}

#[test]
fn content_types() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    for (path, want) in [
        ("/trees/centos7/.treeinfo", "text/plain; charset=utf-8"),
        ("/trees/centos7/repodata/repomd.xml", "text/xml"),
        (
            "/trees/debian12/debian-installer/amd64/initrd.gz",
            "application/gzip",
        ),
        ("/ks/web01", "text/plain; charset=utf-8"),
        ("/boot.ipxe", "text/plain; charset=utf-8"),
        ("/status", "text/html; charset=utf-8"),
        ("/api/v1/machines", "application/json"),
        (
            "/metrics",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    ] {
        let out = curl(&[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{content_type}",
            "-H",
            &format!("Authorization: Bearer {ADMIN_TOKEN}"),
            &server.url(path),
        ]);
        let got = String::from_utf8(out).expect("utf-8");
        assert!(got.starts_with("200 "), "{path}: {got}");
        assert!(got[4..].starts_with(want), "{path}: {got}");
    }
}

/// One sample's value from the exposition text.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in\n{text}"))
}

#[test]
fn metrics_count_requests_bytes_latency_and_machines() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let url = server.url(KERNEL);
    curl(&["-sf", "-o", "/dev/null", &url]);
    curl(&["-sf", "-o", "/dev/null", &url]);
    curl(&["-sf", "-o", "/dev/null", "-r", "0-9", &url]);
    curl(&[
        "-s",
        "-o",
        "/dev/null",
        &server.url("/trees/centos7/nothing"),
    ]);
    curl(&["-sf", "-o", "/dev/null", &server.url("/ks/web01")]);
    let text = String::from_utf8(curl(&["-sf", &server.url("/metrics")])).expect("utf-8");
    let len = lab.kernel.len() as f64;
    assert_eq!(
        sample(&text, "httpd_requests_total{route=\"tree\",code=\"200\"}"),
        2.0
    );
    assert_eq!(
        sample(&text, "httpd_requests_total{route=\"tree\",code=\"206\"}"),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "httpd_requests_total{route=\"refused\",code=\"404\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(&text, "httpd_requests_total{route=\"answer\",code=\"200\"}"),
        1.0
    );
    assert_eq!(
        sample(&text, "httpd_response_bytes_total{route=\"tree\"}"),
        2.0 * len + 10.0
    );
    assert_eq!(
        sample(
            &text,
            "httpd_request_duration_seconds_count{route=\"tree\"}"
        ),
        3.0
    );
    assert_eq!(
        sample(
            &text,
            "httpd_request_duration_seconds_bucket{le=\"+Inf\",route=\"tree\"}"
        ),
        3.0
    );
    assert_eq!(sample(&text, "pxe_machines{state=\"installing\"}"), 1.0);
    assert_eq!(sample(&text, "pxe_machines{state=\"pending\"}"), 3.0);
    assert_eq!(sample(&text, "pxe_machines{state=\"installed\"}"), 0.0);
    assert!(sample(&text, "httpd_connections_total") >= 6.0);
}
