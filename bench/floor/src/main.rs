//! One fetch (gloo-net, its JSON read by serde-wasm-bindgen into fanout-api's `Comic`) and
//! a keyed `<For>` of what came back: Fanout's stack with none of Fanout.

use fanout_api::{Comic, ComicId, routes};
use leptos::{prelude::*, task::spawn_local};

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

async fn fetch_comic(num: u32) -> Result<Comic, String> {
    let response = gloo_net::http::Request::get(&routes::comic(ComicId::Number(num)))
        .send()
        .await
        .map_err(|err| err.to_string())?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let parsed = web_sys::Response::from(response)
        .json()
        .map_err(|_| "the body was already read".to_string())?;
    let value = wasm_bindgen_futures::JsFuture::from(parsed)
        .await
        .map_err(|_| "the body is not JSON".to_string())?;
    serde_wasm_bindgen::from_value(value).map_err(|err| err.to_string())
}

#[component]
fn App() -> impl IntoView {
    let comics = RwSignal::new(Vec::<Comic>::new());
    let error = RwSignal::new(None::<String>);
    let next = move |_| {
        let num = comics.with_untracked(|c| c.len() as u32 + 1);
        spawn_local(async move {
            match fetch_comic(num).await {
                Ok(comic) => comics.update(|c| c.push(comic)),
                Err(err) => error.set(Some(err)),
            }
        });
    };
    view! {
        <main>
            <h1>"Floor"</h1>
            <button type="button" on:click=next>
                "Fetch the next comic"
            </button>
            <p role="alert">{move || error.get()}</p>
            <ul>
                <For each=move || comics.get() key=|comic| comic.num let:comic>
                    <li>{comic.num} ": " {comic.title}</li>
                </For>
            </ul>
        </main>
    }
}

fn main() {
    leptos::mount::mount_to_body(App);
}
