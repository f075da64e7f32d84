//! What the MCP server offers a client: the session tools (`tools.rs`), the session as resources
//! (`resources.rs`) that a client can follow live (`subscriptions.rs`), and the `iteration`
//! prompt (`prompts.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use rmcp::model::{
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, ServerCapabilities,
    ServerConfig, ServerNotification, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};
use tokio_util::sync::CancellationToken;

use super::prompts;
use super::resources::{self, Uri};
use super::subscriptions::{follow, updated};
use super::tools::SessionTools;
use crate::session::{SessionState, text::error_chain};
use crate::session_handle::SessionHandle;

fn store_error(what: &str, e: impl std::error::Error + 'static) -> ErrorData {
    let e = error_chain(&e);
    tracing::error!("MCP {what}: {e}");
    ErrorData::internal_error(format!("iteratr could not {what} ({e}); try again"), None)
}

impl SessionTools {
    /// The state of `name`: the served session, or any other session in the same store.
    async fn state_of(&self, name: &str) -> Result<Arc<SessionState>, ErrorData> {
        if name == self.session.name() {
            return self
                .session
                .refresh()
                .await
                .map_err(|e| store_error("read the session", e));
        }
        let log = self.session.log();
        let last = log
            .last_seq(name)
            .await
            .map_err(|e| store_error("read the session", e))?;
        if last == 0 {
            return Err(ErrorData::resource_not_found(
                format!(
                    "there is no session '{name}' in {}; resources/list shows the sessions",
                    log.describe()
                ),
                None,
            ));
        }
        let handle = SessionHandle::open(Arc::clone(log), name)
            .await
            .map_err(|e| store_error("read the session", e))?;
        handle
            .refresh()
            .await
            .map_err(|e| store_error("read the session", e))
    }

    /// The served session first, then every other session in the store.
    async fn session_names(&self) -> Result<Vec<String>, ErrorData> {
        let served = self.session.name().to_string();
        let others = self
            .session
            .log()
            .sessions()
            .await
            .map_err(|e| store_error("list the sessions", e))?;
        let mut names = vec![served.clone()];
        names.extend(others.into_iter().map(|s| s.name).filter(|n| *n != served));
        Ok(names)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SessionTools {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_resources_subscribe()
            .enable_prompts()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("iteratr", env!("CARGO_PKG_VERSION")))
            .with_instructions(self.instructions)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let names = self.session_names().await?;
        let all = names.iter().flat_map(|n| resources::list(n)).collect();
        Ok(ListResourcesResult::with_all_items(all))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = Uri::parse(&request.uri)?;
        let state = self.state_of(&uri.session).await?;
        let contents = resources::read(&uri, &state, self.source.spec.as_deref())?;
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    #[allow(deprecated)] // resources/subscribe is how clients before 2026-07-28 follow a resource
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let uri = Uri::parse(&request.uri)?;
        self.state_of(&uri.session).await?;
        let peer = context.peer.clone();
        let notify = move |uri: String| {
            let peer = peer.clone();
            async move {
                peer.send_notification(ServerNotification::ResourceUpdatedNotification(updated(
                    uri,
                )))
                .await
                .is_ok()
            }
        };
        self.subscriptions
            .subscribe(Arc::clone(self.session.log()), uri, notify)
            .await
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions.unsubscribe(&Uri::parse(&request.uri)?);
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = SubscriptionFilter::new();
        accepted.resource_subscriptions = requested.resource_subscriptions.as_ref().map(|uris| {
            uris.iter()
                .filter(|u| Uri::parse(u).is_ok())
                .cloned()
                .collect()
        });
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut by_session: BTreeMap<String, Vec<Uri>> = BTreeMap::new();
        for uri in context
            .accepted()
            .resource_subscriptions
            .iter()
            .flatten()
            .filter_map(|u| Uri::parse(u).ok())
        {
            by_session.entry(uri.session.clone()).or_default().push(uri);
        }
        let stop = CancellationToken::new();
        let _stop_followers = stop.clone().drop_guard();
        for (session, uris) in by_session {
            let log = Arc::clone(self.session.log());
            let after = log
                .last_seq(&session)
                .await
                .map_err(|e| store_error("read the session", e))?;
            let wanted = move |_: &str, part| {
                uris.iter()
                    .filter(|u| u.part == part)
                    .map(ToString::to_string)
                    .collect()
            };
            let sink = context.sink().clone();
            let notify = move |uri: String| {
                let sink = sink.clone();
                async move {
                    sink.send(ServerNotification::ResourceUpdatedNotification(updated(
                        uri,
                    )))
                    .await
                    .is_ok()
                }
            };
            tokio::spawn(follow(
                log,
                session,
                after,
                wanted,
                stop.child_token(),
                notify,
            ));
        }
        context.cancelled().await;
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(prompts::list()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if request.name != prompts::ITERATION {
            return Err(ErrorData::invalid_params(
                format!(
                    "no prompt named '{}'; the prompt is '{}' (prompts/list)",
                    request.name,
                    prompts::ITERATION
                ),
                None,
            ));
        }
        let session = prompts::session_argument(request.arguments.as_ref(), self.session.name())?;
        let state = self.state_of(&session).await?;
        Ok(prompts::render(&self.source, &session, &state, None)?.into())
    }
}
