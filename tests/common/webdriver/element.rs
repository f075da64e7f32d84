//! Elements of the page: what a test finds, clicks, types into and reads.

use anyhow::{Result, anyhow};
use serde_json::{Value, json};

use super::Browser;

/// The key under which WebDriver passes an element reference.
pub(super) const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
pub(super) fn locator(css: &str) -> Value {
    json!({"using": "css selector", "value": css})
}

pub(super) fn elements<'a>(browser: &'a Browser, found: &Value) -> Result<Vec<Element<'a>>> {
    found
        .as_array()
        .ok_or_else(|| anyhow!("not a list of elements: {found}"))?
        .iter()
        .map(|e| Element::from_json(browser, e))
        .collect()
}

/// An element of the page (a reference: it goes stale when the page replaces it).
#[derive(Clone)]
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl std::fmt::Debug for Element<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Element({})", self.id)
    }
}

impl<'a> Element<'a> {
    pub(super) fn from_json(browser: &'a Browser, value: &Value) -> Result<Element<'a>> {
        let id = value[ELEMENT_KEY]
            .as_str()
            .ok_or_else(|| anyhow!("not an element: {value}"))?;
        Ok(Element {
            browser,
            id: id.to_string(),
        })
    }

    /// The element as an argument of [`Browser::execute`].
    pub fn as_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    fn path(&self, what: &str) -> String {
        format!("/element/{}{what}", self.id)
    }

    /// Clicks its centre, as a user would (fails when it is hidden or covered).
    pub async fn click(&self) -> Result<()> {
        self.browser
            .post(&self.path("/click"), json!({}))
            .await
            .map(drop)
    }

    /// Types `text` into it (focusing it first); [`ENTER`] and the other WebDriver keys work.
    pub async fn send_keys(&self, text: &str) -> Result<()> {
        self.browser
            .post(&self.path("/value"), json!({"text": text}))
            .await
            .map(drop)
    }

    /// Empties an input or textarea.
    pub async fn clear(&self) -> Result<()> {
        self.browser
            .post(&self.path("/clear"), json!({}))
            .await
            .map(drop)
    }

    /// Its rendered text (as `innerText`: hidden parts left out).
    pub async fn text(&self) -> Result<String> {
        let text = self.browser.get(&self.path("/text")).await?;
        Ok(text.as_str().unwrap_or_default().to_string())
    }

    /// The attribute `name` (as in the HTML); none when it is absent.
    pub async fn attr(&self, name: &str) -> Result<Option<String>> {
        let value = self
            .browser
            .get(&self.path(&format!("/attribute/{name}")))
            .await?;
        Ok(value.as_str().map(str::to_string))
    }

    /// The DOM property `name` (`value`, `checked`, `disabled`, ...).
    pub async fn prop(&self, name: &str) -> Result<Value> {
        self.browser
            .get(&self.path(&format!("/property/{name}")))
            .await
    }

    pub async fn is_displayed(&self) -> Result<bool> {
        let shown = self.browser.get(&self.path("/displayed")).await?;
        Ok(shown.as_bool().unwrap_or(false))
    }

    /// The first element inside this one matching `css`.
    pub async fn find(&self, css: &str) -> Result<Element<'a>> {
        let found = self
            .browser
            .post(&self.path("/element"), locator(css))
            .await?;
        Element::from_json(self.browser, &found)
    }

    /// Every element inside this one matching `css`.
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element<'a>>> {
        let found = self
            .browser
            .post(&self.path("/elements"), locator(css))
            .await?;
        elements(self.browser, &found)
    }
}
