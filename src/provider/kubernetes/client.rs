//! The connection to the cluster: `providers.kubernetes` settings, a client built on
//! first use (so a stack that plans no Kubernetes change needs no cluster), and API
//! errors turned into messages a person can act on.

use std::sync::Arc;
use std::time::SystemTime;

use kube::client::{Body, ClientBuilder};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::sync::Mutex;

use super::connection::{self, Connection, EksTokens, Resolved};
use super::proxy::{self, Proxy, ProxyEnv};
use crate::provider::settings::SettingsMap;
use crate::provider::{Limits, Property, ProviderError, ProviderResult};
use crate::value::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// How to reach the cluster (a kubeconfig and context, or an EKS cluster).
    pub connection: Connection,
    /// Per-request timeout and attempts (`timeout`, `max_attempts`).
    pub limits: Limits,
}

/// The settings `providers.kubernetes` takes.
pub fn declared_settings() -> Vec<Property> {
    let mut settings = connection::declared("kubernetes");
    settings.extend(crate::provider::settings::limits());
    settings
}

impl Settings {
    /// Reads `providers.kubernetes` as the engine hands it over (see
    /// [`connection::with_inherited`]).
    pub fn from_value(v: &Value) -> ProviderResult<Settings> {
        let (own, aws) = connection::split_aws(v);
        let s = SettingsMap::check("kubernetes", &declared_settings(), &own)?;
        Ok(Settings {
            connection: Connection::from_settings("kubernetes", &s, aws.as_ref())?,
            limits: Limits::from_settings("kubernetes", &own)?,
        })
    }
}

/// A client and, for an EKS cluster, when its token must be replaced.
struct Connected {
    settings: Settings,
    client: Client,
    fresh_until: Option<SystemTime>,
    /// The API server's URL, for messages.
    endpoint: String,
}

/// What the providers of one registry share of the clusters they reach: the kubernetes
/// and helm providers of a stack talk to the same API server, so they share one client
/// (one set of TLS connections) and, for an EKS cluster, one DescribeCluster and one token
/// source, not one each.
#[derive(Default)]
pub struct SharedClusters {
    resolved: Mutex<Vec<(Connection, Arc<Resolved>)>>,
    clients: Mutex<Vec<Connected>>,
}

impl SharedClusters {
    /// Forgets what was built for `settings`: the next use reads the connection again.
    async fn forget(&self, settings: &Settings) {
        self.resolved
            .lock()
            .await
            .retain(|(c, _)| *c != settings.connection);
        self.clients
            .lock()
            .await
            .retain(|c| c.settings != *settings);
    }
}

/// One provider's cluster: its settings, and what it shares with the registry's other
/// providers (a provider made on its own shares with nobody).
#[derive(Default)]
pub struct Cluster {
    settings: std::sync::Mutex<Settings>,
    shared: Arc<SharedClusters>,
    /// Where requests go, for messages (see [`Cluster::endpoint`]).
    endpoint: std::sync::Mutex<Option<String>>,
}

impl Cluster {
    /// A cluster whose connections are shared through `shared`.
    pub fn sharing(shared: Arc<SharedClusters>) -> Cluster {
        Cluster {
            shared,
            ..Cluster::default()
        }
    }

    pub async fn configure(&self, settings: Settings) {
        self.shared.forget(&settings).await;
        *self.settings.lock().unwrap() = settings;
        *self.endpoint.lock().unwrap() = None;
    }

    pub fn limits(&self) -> Limits {
        self.settings.lock().unwrap().limits
    }

    /// Where requests go, for messages: the API server's URL and proxy and, for an EKS
    /// cluster, its name (all that is known of it before DescribeCluster). Read from the
    /// settings once, until a client is built or the settings change: every request asks.
    pub fn endpoint(&self) -> Option<String> {
        let mut endpoint = self.endpoint.lock().unwrap();
        if endpoint.is_none() {
            let settings = self.settings.lock().unwrap().clone();
            *endpoint = match settings.connection.eks {
                Some(_) => Some(settings.connection.describe()),
                None => described_server(&settings),
            };
        }
        endpoint.clone()
    }

    /// The connection, resolved again once an EKS token nears its expiry.
    pub async fn resolved(&self) -> ProviderResult<Arc<Resolved>> {
        let connection = self.settings.lock().unwrap().connection.clone();
        let mut all = self.shared.resolved.lock().await;
        let now = SystemTime::now();
        if let Some((_, r)) = all
            .iter()
            .find(|(c, r)| *c == connection && r.is_fresh_at(now))
        {
            return Ok(r.clone());
        }
        let r = Arc::new(connection.resolve().await?);
        all.retain(|(c, _)| *c != connection);
        all.push((connection, r.clone()));
        Ok(r)
    }

    /// The client, built on first use and again once an EKS token nears its expiry.
    pub async fn client(&self) -> ProviderResult<Client> {
        let settings = self.settings.lock().unwrap().clone();
        let mut all = self.shared.clients.lock().await;
        let now = SystemTime::now();
        if let Some(c) = all
            .iter()
            .find(|c| c.settings == settings && c.fresh_until.is_none_or(|t| now < t))
        {
            *self.endpoint.lock().unwrap() = Some(c.endpoint.clone());
            return Ok(c.client.clone());
        }
        let resolved = self.resolved().await?;
        let Loaded {
            config,
            fresh_until,
            tokens,
            proxy,
        } = load_config(&settings, &resolved).await?;
        let url = config.cluster_url.to_string();
        let endpoint = match settings.connection.eks {
            Some(_) => format!("{url} of {}", settings.connection.describe()),
            None => url,
        };
        let endpoint = through(endpoint, proxy.as_ref());
        *self.endpoint.lock().unwrap() = Some(endpoint.clone());
        let client = client_for(config, settings.limits, tokens)?;
        all.retain(|c| c.settings != settings);
        all.push(Connected {
            settings,
            client: client.clone(),
            fresh_until,
            endpoint,
        });
        Ok(client)
    }
}

/// A client for the cluster the settings select (also used by `trustplane verify`).
pub async fn connect(settings: &Settings) -> ProviderResult<Client> {
    let resolved = settings.connection.resolve().await?;
    let loaded = load_config(settings, &resolved).await?;
    client_for(loaded.config, settings.limits, loaded.tokens)
}

/// A client whose every request is bounded by `limits.timeout`. kube's own retry layer is
/// off: the engine retries, so `max_attempts` means what it says. With `tokens` (an EKS
/// cluster), every request carries a token fresh when it is sent, so a long wait outlives
/// the 15 minutes one token lasts.
fn client_for(
    mut config: Config,
    limits: Limits,
    tokens: Option<Arc<EksTokens>>,
) -> ProviderResult<Client> {
    config.connect_timeout = Some(limits.timeout);
    config.read_timeout = Some(limits.timeout);
    config.write_timeout = Some(limits.timeout);
    config.default_retry = false;
    let fail =
        |e: kube::Error| ProviderError::new(format!("cannot build a Kubernetes client: {e}"));
    let Some(tokens) = tokens else {
        return Client::try_from(config).map_err(fail);
    };
    // The token comes from the layer below, not from the configuration.
    config.auth_info.token = None;
    let bearer = tower::util::MapRequestLayer::new(move |mut req: http::Request<Body>| {
        // Signing is local and only fails on a malformed region or name, which resolving
        // the connection already refused; such a request then goes without a token and
        // gets the server's 401.
        if let Ok(t) = tokens.token() {
            if let Ok(v) = http::HeaderValue::from_str(&format!("Bearer {}", t.token)) {
                req.headers_mut().insert(http::header::AUTHORIZATION, v);
            }
        }
        req
    });
    Ok(ClientBuilder::try_from(config)
        .map_err(fail)?
        .with_layer(&bearer)
        .build())
}

/// The API server URL of the context the settings select and the proxy requests go
/// through, read from the kubeconfig without connecting (for messages); `None` when it
/// cannot be told (an EKS cluster before DescribeCluster).
fn described_server(settings: &Settings) -> Option<String> {
    let c = &settings.connection;
    if c.eks.is_some() {
        return None;
    }
    let kc = match &c.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).ok()?,
        None => Kubeconfig::read().ok()?,
    };
    let cluster = selected_cluster(&kc, c.context.as_deref())?;
    let server = cluster.server.clone()?;
    let proxy = server.parse::<http::Uri>().ok().and_then(|uri| {
        proxy::choose(
            &uri,
            cluster.proxy_url.as_deref(),
            &ProxyEnv::from_process(),
        )
        .ok()
        .flatten()
    });
    Some(through(server, proxy.as_ref()))
}

/// `endpoint`, naming the proxy requests to it go through.
fn through(endpoint: String, proxy: Option<&Proxy>) -> String {
    match proxy {
        Some(p) => format!("{endpoint} through the proxy {}", p.display()),
        None => endpoint,
    }
}

/// The kube context the settings select (or the EKS cluster), for messages.
pub fn context_name(settings: &Settings) -> String {
    let c = &settings.connection;
    if c.eks.is_some() {
        return c.describe();
    }
    c.context
        .clone()
        .or_else(|| {
            let kc = match &c.kubeconfig {
                Some(path) => Kubeconfig::read_from(path).ok(),
                None => Kubeconfig::read().ok(),
            };
            kc?.current_context
        })
        .unwrap_or_else(|| "(in-cluster)".to_string())
}

/// A cluster's client configuration as loaded, and how long it serves.
struct Loaded {
    config: Config,
    /// For an EKS cluster: when its token must be replaced, and where tokens come from.
    fresh_until: Option<SystemTime>,
    tokens: Option<Arc<EksTokens>>,
    /// The proxy requests go through, if any.
    proxy: Option<Proxy>,
}

/// The client configuration of the connection, with kubectl's choice of proxy.
async fn load_config(settings: &Settings, resolved: &Resolved) -> ProviderResult<Loaded> {
    let where_ = settings.connection.describe();
    let fail = |e: &(dyn std::error::Error + 'static)| {
        // kube reads NO_PROXY whenever a proxy is set, and refuses entries kubectl skips.
        if refuses_no_proxy(e) {
            let entry = proxy::unreadable_no_proxy_entry(
                ProxyEnv::from_process()
                    .no_proxy
                    .as_deref()
                    .unwrap_or_default(),
            );
            return ProviderError::new(format!(
                "cannot load Kubernetes settings from {where_}: NO_PROXY cannot be read: {}",
                entry.unwrap_or_else(|| e.to_string())
            ))
            .with_help("remove that entry from NO_PROXY (and no_proxy)");
        }
        ProviderError::new(format!(
            "cannot load Kubernetes settings from {where_}: {e}"
        ))
        .with_help("set providers.kubernetes.kubeconfig (and context) in the stack, or KUBECONFIG")
    };
    let (kubeconfig, context) = match resolved {
        Resolved::Eks {
            kubeconfig,
            expires_at,
            tokens,
            ..
        } => {
            let kc = connection::parse_kubeconfig(kubeconfig)?;
            let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| fail(&e))?;
            let (config, proxy) = with_proxy(config, None)?;
            return Ok(Loaded {
                config,
                fresh_until: Some(*expires_at),
                tokens: Some(tokens.clone()),
                proxy,
            });
        }
        Resolved::File {
            kubeconfig,
            context,
        } => (kubeconfig, context),
    };
    let options = KubeConfigOptions {
        context: context.clone(),
        ..KubeConfigOptions::default()
    };
    let (config, proxy_url) = match &kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| fail(&e))?;
            let proxy_url = kubeconfig_proxy_url(&kc, context.as_deref());
            let config = Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| fail(&e))?;
            (config, proxy_url)
        }
        None => {
            let config = match context {
                Some(_) => Config::from_kubeconfig(&options)
                    .await
                    .map_err(|e| fail(&e))?,
                // A kubeconfig if there is one, else the pod's service account.
                None => Config::infer().await.map_err(|e| fail(&e))?,
            };
            let proxy_url = Kubeconfig::read()
                .ok()
                .and_then(|kc| kubeconfig_proxy_url(&kc, context.as_deref()));
            (config, proxy_url)
        }
    };
    let (config, proxy) = with_proxy(config, proxy_url)?;
    Ok(Loaded {
        config,
        fresh_until: None,
        tokens: None,
        proxy,
    })
}

/// The configuration with the proxy kubectl would use (see [`proxy`](super::proxy)), in
/// place of the one kube chose.
fn with_proxy(
    mut config: Config,
    proxy_url: Option<String>,
) -> ProviderResult<(Config, Option<Proxy>)> {
    let proxy = proxy::choose(
        &config.cluster_url,
        proxy_url.as_deref(),
        &ProxyEnv::from_process(),
    )
    .map_err(|e| {
        ProviderError::new(format!(
            "cannot reach the Kubernetes API server at {}: {e}",
            config.cluster_url
        ))
        .with_help("fix the proxy setting, or list the server in NO_PROXY to connect directly")
    })?;
    config.proxy_url = proxy.as_ref().map(|p| p.url.clone());
    Ok((config, proxy))
}

/// The kubeconfig cluster the context selects (without one, the current context's).
fn selected_cluster<'a>(
    kc: &'a Kubeconfig,
    context: Option<&str>,
) -> Option<&'a kube::config::Cluster> {
    let context = context.or(kc.current_context.as_deref())?;
    let cluster = &kc
        .contexts
        .iter()
        .find(|c| c.name == context)?
        .context
        .as_ref()?
        .cluster;
    kc.clusters
        .iter()
        .find(|c| c.name == *cluster)?
        .cluster
        .as_ref()
}

/// Whether kube failed to load a configuration because it could not read NO_PROXY.
fn refuses_no_proxy(e: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(e), |e| e.source()).any(|e| {
        matches!(
            e.downcast_ref::<kube::config::KubeconfigError>(),
            Some(kube::config::KubeconfigError::ParseNoProxy(_))
        )
    })
}

fn kubeconfig_proxy_url(kc: &Kubeconfig, context: Option<&str>) -> Option<String> {
    selected_cluster(kc, context)?.proxy_url.clone()
}

/// The API server's own "not found": a 404 whose body is a `Status` with reason NotFound
/// (or no reason). A 404 page from something in between (a proxy, an ingress) is not.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_not_found())
}

/// An API failure while doing `what` ("apply ConfigMap web/settings").
pub fn api_error(what: &str, e: kube::Error) -> ProviderError {
    match &e {
        kube::Error::Api(s) => {
            let err = ProviderError::new(format!("cannot {what}: {} ({})", s.message, s.code));
            match s.code {
                401 | 403 => err.with_help(
                    "check the credentials of the kubeconfig context (for eks_cluster: the EKS \
                     access entry of the AWS identity) and their RBAC permissions",
                ),
                429 | 500..=599 => {
                    let after = s
                        .details
                        .as_ref()
                        .map(|d| d.retry_after_seconds)
                        .filter(|secs| *secs > 0)
                        .map(|secs| std::time::Duration::from_secs(u64::from(secs)));
                    // 429: the API server's priority and fairness asks to slow down.
                    if s.code == 429 {
                        err.throttled(after)
                    } else {
                        err.retry_after(after)
                    }
                }
                _ => err,
            }
        }
        _ => ProviderError::new(format!(
            "cannot {what}: {}",
            crate::provider::cause_chain(&e)
        ))
        .with_help("is the cluster reachable with this kubeconfig?")
        .retryable(),
    }
}
