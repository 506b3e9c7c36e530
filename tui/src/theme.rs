//! Colours for dark and light terminals.
//!
//! Both palettes keep the terminal's own background (`Reset`) and use the
//! 16 ANSI colours (plus one 256-colour orange on light terminals, where
//! yellow text is unreadable), so they work over plain SSH sessions.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use shouwang_proto::Severity;

/// Which palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeName {
    #[default]
    Dark,
    Light,
}

impl ThemeName {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dark" => Some(Self::Dark),
            "light" => Some(Self::Light),
            _ => None,
        }
    }

    pub fn toggle(self) -> Self {
        match self {
            Self::Dark => Self::Light,
            Self::Light => Self::Dark,
        }
    }

    pub fn theme(self) -> &'static Theme {
        match self {
            Self::Dark => &DARK,
            Self::Light => &LIGHT,
        }
    }
}

/// A palette.
#[derive(Debug)]
pub struct Theme {
    pub text: Color,
    pub dim: Color,
    pub accent: Color,
    pub bar_fg: Color,
    pub bar_bg: Color,
    pub selected_fg: Color,
    pub selected_bg: Color,
    pub ok: Color,
    pub warn: Color,
    pub bad: Color,
    pub alert_fg: Color,
    pub alert_bg: Color,
    /// info, low, medium, high, critical.
    pub severity: [Color; 5],
}

pub static DARK: Theme = Theme {
    text: Color::Reset,
    dim: Color::DarkGray,
    accent: Color::Cyan,
    bar_fg: Color::Black,
    bar_bg: Color::Cyan,
    selected_fg: Color::Black,
    selected_bg: Color::LightBlue,
    ok: Color::Green,
    warn: Color::Yellow,
    bad: Color::LightRed,
    alert_fg: Color::White,
    alert_bg: Color::Red,
    severity: [
        Color::Gray,
        Color::Cyan,
        Color::Yellow,
        Color::LightRed,
        Color::LightMagenta,
    ],
};

pub static LIGHT: Theme = Theme {
    text: Color::Reset,
    dim: Color::DarkGray,
    accent: Color::Blue,
    bar_fg: Color::White,
    bar_bg: Color::Blue,
    selected_fg: Color::White,
    selected_bg: Color::Blue,
    ok: Color::Green,
    warn: Color::Indexed(130),
    bad: Color::Red,
    alert_fg: Color::White,
    alert_bg: Color::Red,
    severity: [
        Color::DarkGray,
        Color::Blue,
        Color::Indexed(130),
        Color::Red,
        Color::Magenta,
    ],
};

impl Theme {
    pub fn sev(&self, s: Severity) -> Style {
        let st = Style::new().fg(self.severity[s as usize]);
        if s >= Severity::High {
            st.add_modifier(Modifier::BOLD)
        } else {
            st
        }
    }

    pub fn bar(&self) -> Style {
        Style::new().fg(self.bar_fg).bg(self.bar_bg)
    }

    pub fn selected(&self) -> Style {
        Style::new().fg(self.selected_fg).bg(self.selected_bg)
    }

    pub fn alert(&self) -> Style {
        Style::new()
            .fg(self.alert_fg)
            .bg(self.alert_bg)
            .add_modifier(Modifier::BOLD)
    }

    pub fn dim(&self) -> Style {
        Style::new().fg(self.dim)
    }

    pub fn header(&self) -> Style {
        Style::new().fg(self.accent).add_modifier(Modifier::BOLD)
    }
}
