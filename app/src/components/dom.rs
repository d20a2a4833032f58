//! Small DOM helpers for the islands that work on server-rendered controls (the wizard, the
//! dashboard's board): find elements, show or hide one. Browser only.

use wasm_bindgen::JsCast;
use web_sys::Element;

/// The elements under `root` matching `css`.
pub fn all(root: &Element, css: &str) -> Vec<Element> {
    let Ok(list) = root.query_selector_all(css) else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i)?.dyn_into::<Element>().ok())
        .collect()
}

/// The first element under `root` matching `css`.
pub fn one(root: &Element, css: &str) -> Option<Element> {
    root.query_selector(css).ok().flatten()
}

/// Sets or removes `el`'s `hidden` attribute.
pub fn set_hidden(el: &Element, hidden: bool) {
    let _ = if hidden {
        el.set_attribute("hidden", "")
    } else {
        el.remove_attribute("hidden")
    };
}
