//! `--config`: the exporter applies a changed file without a restart, and a broken file is
//! reported while the previous configuration keeps serving.

use serde_json::json;
use statefleet_e2e::{Exporter, Poll, fixtures::make, wait_for, with_temp_ns};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);
const EVERY: Duration = Duration::from_millis(100);

fn families(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_changes_apply_live_and_bad_files_keep_the_old_configuration() {
    with_temp_ns("config", |ns| async move {
        ns.create_fixture(make("v1", "ConfigMap", "one").set("/data", json!({"k": "v"})))
            .await
            .expect("configmap");
        ns.create_fixture(make("v1", "Secret", "two").set("/stringData", json!({"k": "v"})))
            .await
            .expect("secret");
        let config = ns.dir().join("exporter-config.yaml");
        std::fs::write(&config, "resources: {configmaps: {}}\n").expect("write config");
        let args = vec![format!("--namespaces={}", ns.name()), format!("--config={}", config.display())];
        let exporter = Exporter::start("config", ns.kubeconfig(), &args).await.expect("exporter starts");

        let text = exporter.scrape().await.expect("scrape");
        let names = families(&text);
        assert!(names.iter().any(|f| f == "kube_configmap_info"), "configmaps served: {names:?}");
        assert!(!names.iter().any(|f| f.starts_with("kube_secret_")), "secrets not yet enabled: {names:?}");

        // A valid change is applied without a restart.
        std::fs::write(&config, "resources: {configmaps: {}, secrets: {}}\n").expect("rewrite config");
        wait_for("secrets appear after the config change", LIMIT, EVERY, || async {
            let text = exporter.scrape().await?;
            Ok(if text.contains("kube_secret_info{") {
                Poll::Ready(())
            } else {
                Poll::Pending(families(&text).join(","))
            })
        })
        .await
        .expect("config change applied");

        // A broken file is reported and the running configuration keeps serving.
        std::fs::write(&config, "resources: [not, a, mapping\n").expect("break config");
        wait_for("the failed reload is reported", LIMIT, EVERY, || async {
            let telemetry = exporter.telemetry().await?;
            let failed = telemetry.lines().any(|l| {
                l.starts_with("kube_state_metrics_last_config_reload_successful{") && l.ends_with(" 0")
            });
            Ok(if failed {
                Poll::Ready(())
            } else {
                Poll::Pending("reload not yet reported as failed".into())
            })
        })
        .await
        .expect("failed reload reported");
        let text = exporter.scrape().await.expect("scrape after the broken file");
        assert!(text.contains("kube_secret_info{") && text.contains("kube_configmap_info{"), "still serving");
        assert!(exporter.log_tail(50).contains("config reload failed"), "logged: {}", exporter.log_tail(20));
    })
    .await;
}
