//! A private certificate authority and a server certificate for loopback registries.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// PEM material for a TLS server signed by a freshly generated private CA.
///
/// The server certificate is valid for `127.0.0.1` (IP SAN) and `localhost` (DNS SAN).
/// Nothing is trusted system-wide: clients must be given [`TestPki::ca_pem`].
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA certificate (PEM). Give this to clients as their only trust anchor.
    pub ca_pem: String,
    /// The server certificate (PEM), signed by the CA.
    pub server_cert_pem: String,
    /// The server's private key (PKCS#8 PEM).
    pub server_key_pem: String,
    /// A client certificate and its key (PEM), signed by the same CA, for registries that
    /// ask clients for one (mutual TLS).
    pub client: Option<(String, String)>,
}

impl TestPki {
    /// Generates a new CA and a server certificate for `127.0.0.1` and `localhost`.
    ///
    /// # Panics
    ///
    /// If key or certificate generation fails (it does not for these fixed parameters).
    pub fn generate() -> Self {
        Self::generate_for(&["127.0.0.1", "localhost"])
    }

    /// Generates a new CA and a server certificate for the given names (IP literals become
    /// IP SANs, everything else DNS SANs).
    ///
    /// # Panics
    ///
    /// If a name is not a valid SAN or generation fails.
    pub fn generate_for(names: &[&str]) -> Self {
        Self::generate_with(names, false)
    }

    /// One self-signed certificate for `names` that is also a CA (`CA:TRUE`), as `openssl
    /// req -x509 -addext subjectAltName=…` makes with OpenSSL's default config: the server
    /// certificate and the CA a client must trust are the same.
    ///
    /// # Panics
    ///
    /// If a name is not a valid SAN or generation fails.
    pub fn self_signed_ca(names: &[&str]) -> Self {
        let key = KeyPair::generate().expect("generate key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("certificate params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let cert = params.self_signed(&key).expect("self-sign");
        Self {
            ca_pem: cert.pem(),
            server_cert_pem: cert.pem(),
            server_key_pem: key.serialize_pem(),
            client: None,
        }
    }

    /// [`TestPki::generate_for`], with a client certificate too when `client`.
    ///
    /// # Panics
    ///
    /// If a name is not a valid SAN or generation fails.
    pub fn generate_with(names: &[&str], client: bool) -> Self {
        let ca_key = KeyPair::generate().expect("generate CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "tug-testkit private CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().expect("generate server key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("server certificate params");
        params
            .distinguished_name
            .push(DnType::CommonName, "tug-testkit registry");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let server_cert = params
            .signed_by(&server_key, &issuer)
            .expect("sign server certificate");

        let client = client.then(|| {
            let key = KeyPair::generate().expect("generate client key");
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
            params
                .distinguished_name
                .push(DnType::CommonName, "tug-testkit client");
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            params.use_authority_key_identifier_extension = true;
            let cert = params
                .signed_by(&key, &issuer)
                .expect("sign client certificate");
            (cert.pem(), key.serialize_pem())
        });
        Self {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client,
        }
    }
}
