//! Certificates and keys for the control plane, made with the `openssl` command: a real CA (so
//! the controller manager's ClusterTrustBundle publisher accepts it), an API server serving
//! certificate for 127.0.0.1 signed by it, and the ServiceAccount signing key pair.

use crate::{Error, IoContext, Result};
use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Paths of the generated material.
#[derive(Clone, Debug)]
pub(crate) struct Pki {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub sa_key: PathBuf,
    pub sa_pub: PathBuf,
}

fn openssl(dir: &Path, step: &str, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .io(|| format!("run openssl to {step} (is openssl installed?)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Process {
            what: format!("{step} with openssl {}", args.join(" ")),
            detail: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()),
        })
    }
}

/// Generates everything in `dir`. P-256 keys: fast to make and accepted by every component.
pub(crate) fn generate(dir: &Path) -> Result<Pki> {
    let ext = dir.join("serving.ext");
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,\
         DNS:kubernetes.default,DNS:kubernetes.default.svc\n",
    )
    .io(|| format!("write {}", ext.display()))?;
    let ec = ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out"];
    for key in ["ca.key", "serving.key", "sa.key"] {
        let args: Vec<&str> = ec.iter().copied().chain([key]).collect();
        openssl(dir, &format!("generate {key}"), &args)?;
    }
    openssl(
        dir,
        "make the CA certificate",
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "3",
            "-subj",
            "/CN=statefleet-e2e-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        ],
    )?;
    openssl(
        dir,
        "make the serving certificate request",
        &["req", "-new", "-key", "serving.key", "-out", "serving.csr", "-subj", "/CN=kube-apiserver"],
    )?;
    openssl(
        dir,
        "sign the serving certificate",
        &[
            "x509",
            "-req",
            "-in",
            "serving.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "serving.crt",
            "-days",
            "3",
            "-extfile",
            "serving.ext",
        ],
    )?;
    openssl(
        dir,
        "derive the ServiceAccount public key",
        &["ec", "-in", "sa.key", "-pubout", "-out", "sa.pub"],
    )?;
    Ok(Pki {
        ca_cert: dir.join("ca.crt"),
        ca_key: dir.join("ca.key"),
        serving_cert: dir.join("serving.crt"),
        serving_key: dir.join("serving.key"),
        sa_key: dir.join("sa.key"),
        sa_pub: dir.join("sa.pub"),
    })
}
