//! The macro that turns the table of operations (in the [layer
//! module](super)) into the `s3s::S3` implementation and the
//! [`Operation`](super::Operation) names.
//!
//! Each row names an operation as S3 does (`PutObject`), its `s3s` method
//! and its input and output types. A *handled* row goes to the function of
//! that name in the module it names; a *forwarded* row is passed to the
//! upstream as it is (no object data in either direction). Every request is
//! counted under its operation's name, handled or forwarded alike. One
//! macro emits the whole impl, so that `async_trait` sees every method; an
//! operation in no row is not implemented, and `s3s` answers
//! `NotImplemented` without reaching the upstream.

macro_rules! encrypting_s3 {
    (
        handled { $($hop:ident: $hm:ident($hin:ident => $hout:ident) in $module:ident;)* }
        forwarded { $($fop:ident: $fm:ident($fin:ident => $fout:ident);)* }
    ) => {
        /// An S3 operation the layer serves, named as S3 names it: the
        /// label of its metrics.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Operation {
            $(#[doc = concat!("`", stringify!($hop), "`")] $hop,)*
            $(#[doc = concat!("`", stringify!($fop), "` (forwarded)")] $fop,)*
        }

        impl Operation {
            /// Every operation, handled ones first.
            #[cfg(test)]
            pub(crate) const ALL: &[Operation] = &[$(Operation::$hop,)* $(Operation::$fop,)*];

            /// The operation's S3 name (`PutObject`).
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(Operation::$hop => stringify!($hop),)*
                    $(Operation::$fop => stringify!($fop),)*
                }
            }
        }

        #[async_trait::async_trait]
        impl S3 for EncryptingS3 {
            $(
                async fn $hm(&self, req: S3Request<$hin>) -> S3Result<S3Response<$hout>> {
                    let r = $module::$hm(self, req).await;
                    self.observe(Operation::$hop, r)
                }
            )*

            $(
                async fn $fm(&self, req: S3Request<$fin>) -> S3Result<S3Response<$fout>> {
                    let r = self.forward.$fm(req).await.map_err(errors::forwarded_failure);
                    self.observe(Operation::$fop, r)
                }
            )*
        }
    };
}

pub(super) use encrypting_s3;
