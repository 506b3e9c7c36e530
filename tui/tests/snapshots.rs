//! Every view at 80x24 and 160x48, in English and Chinese, drawn from the
//! fixture with `TestBackend` and compared with insta snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shouwang_console::app::{App, View};
use shouwang_console::fixture;
use shouwang_console::i18n::Lang;

fn draw(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| shouwang_console::ui::render(app, f)).unwrap();
    format!("{}", t.backend())
}

fn app(lang: Lang) -> App {
    // 14 incidents, 7 minutes apart; 26 agents.
    fixture::app(lang, 14, 26, 7 * 60_000)
}

#[test]
fn every_view_at_both_sizes_in_both_languages() {
    for lang in [Lang::En, Lang::Zh] {
        for view in View::ALL {
            for (w, h) in [(80, 24), (160, 48)] {
                let mut a = app(lang);
                a.view = view;
                if view == View::Incidents {
                    // Detail open on the selected (first) incident.
                    a.inc.show_detail = true;
                }
                a.prepare();
                let name = format!("{view:?}_{w}x{h}_{lang:?}").to_lowercase();
                insta::assert_snapshot!(name, draw(&a, w, h));
            }
        }
    }
}

#[test]
fn help_overlay_and_disconnected_banner() {
    for lang in [Lang::En, Lang::Zh] {
        let mut a = app(lang);
        a.show_help = true;
        insta::assert_snapshot!(
            format!("help_80x24_{lang:?}").to_lowercase(),
            draw(&a, 80, 24)
        );
        let mut a = app(lang);
        let _ = a.handle(shouwang_console::app::Input::Net(
            shouwang_console::app::NetMsg::Disconnected {
                error: "Connection refused (os error 111)".into(),
            },
        ));
        let _ = a.handle(shouwang_console::app::Input::Tick(fixture::NOW_MS + 83_000));
        insta::assert_snapshot!(
            format!("disconnected_80x24_{lang:?}").to_lowercase(),
            draw(&a, 80, 24)
        );
    }
}
