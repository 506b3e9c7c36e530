//! HTTPS server for the site-check benchmark (BENCHMARKS.md): writes
//! PAGES government-portal-like pages of about 20 KB under DIR/www/p/,
//! the test CA to DIR/ca.pem, serves them on 127.0.0.1 with a certificate
//! for portal.gov.test, prints the address, and runs until killed.
//!
//! `site-bench-server DIR [PAGES] [THREADS]` (default 1000 pages, 1 thread)

use std::time::Duration;

use shouwang_e2e::web::{Validity, WebServer};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "/tmp/site-bench".into()));
    let pages: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let www = dir.join("www");
    std::fs::create_dir_all(www.join("p"))?;
    let news: String = (0..60)
        .map(|i| {
            format!(
                "<li><a href=\"/xwzx/{i}.html\">关于做好第{i}批政务服务事项标准化工作的通知</a><span>2026-11-{:02}</span></li>\n",
                i % 28 + 1
            )
        })
        .collect();
    for i in 0..pages {
        let page = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>某某县人民政府 第{i}页</title>\
             <link rel=\"stylesheet\" href=\"/css/main.css\"><script src=\"/js/app.js\"></script></head><body>\
             <div id=\"header\"><h1>某某县人民政府门户网站</h1><p>今天是 {{{{now}}}}</p></div>\
             <ul class=\"nav\"><li><a href=\"/zwgk/\">政务公开</a></li><li><a href=\"/bsfw/\">办事服务</a></li>\
             <li><a href=\"https://www.gov.cn/\">中国政府网</a></li></ul>\
             <div class=\"news\"><h2>要闻动态</h2><ul>{news}</ul></div>\
             <form action=\"/search\"><input type=\"hidden\" name=\"_csrf\" value=\"{{{{csrf}}}}\"></form>\
             <div id=\"footer\">主办：某某县人民政府办公室</div></body></html>"
        );
        std::fs::write(www.join(format!("p/{i}.html")), page)?;
    }
    let server = WebServer::start_with(&www, "portal.gov.test", Validity::Good, threads, true)?;
    server.write_ca(&dir)?;
    std::fs::write(dir.join("addr"), server.addr.to_string())?;
    println!(
        "{} pages on https://{} (CA {})",
        pages,
        server.addr,
        dir.join("ca.pem").display()
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
