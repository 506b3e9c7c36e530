//! The console's state: events in, state and effects out.
//!
//! [`App::handle`] takes one [`Input`] (a key, a mouse event, a clock tick
//! or a message from the network task) and returns the [`Effect`]s to carry
//! out (an API call, the bell, a report to write, quitting). It never
//! touches the terminal, the network or the clock itself, so every
//! behaviour is tested without a terminal. [`App::prepare`] refreshes the
//! sorted and filtered rows the views draw, once per frame, so drawing is
//! proportional to the rows on screen, not to the incidents held.

mod keys;
pub mod layout;
mod state;

pub use state::*;

impl App {
    /// Reacts to one input.
    pub fn handle(&mut self, input: Input) -> Vec<Effect> {
        match input {
            Input::Tick(now) => {
                self.now_ms = now;
                if self
                    .status
                    .as_ref()
                    .is_some_and(|(at, _, _)| now - at > STATUS_MS)
                {
                    self.status = None;
                }
                Vec::new()
            }
            Input::Net(m) => self.on_net(m),
            Input::Key(k) => keys::on_key(self, k),
            Input::Mouse(m) => keys::on_mouse(self, m),
        }
    }
}
