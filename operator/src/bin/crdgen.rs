//! Prints the `KubeStateMetrics` CRD as YAML: `crdgen > crds/statefleet.io_kubestatemetrics.yaml`.

fn main() {
    print!("{}", operator::manifests::crd_yaml());
}
