//! The run options laid over `[defaults]`: `RunOptions` and `RunArgs::layer`, from
//! `run_options_table!` (options.rs).

use crate::options::{Layered, run_options_table};

/// Generates `RunOptions` and `RunArgs::layer`, which lays the flags over `[defaults]`.
macro_rules! define_layering {
    ({}
     $( $(#[doc = $gdoc:literal])* $group:ident : $Group:ident, $Ignored:ident {
        $( $(#[doc = $doc:literal])* #[arg($($arg:tt)*)] $name:ident : $flag:ty => $key:ty; )*
     } )*
    ) => {
        /// The run options, layered: each flag's value, else its `[defaults]` key's.
        #[derive(Debug, Clone, Default)]
        pub(crate) struct RunOptions {
            $( $( $(#[doc = $doc])* pub(crate) $name: <$flag as Layered<$key>>::Value, )* )*
        }

        impl $crate::cli::RunArgs {
            /// The run options: each flag's value, else its `[defaults]` key's; `at`
            /// names a key in errors.
            pub(crate) fn layer(
                &self,
                file: &super::file::FileDefaults,
                at: &dyn Fn(&str) -> String,
            ) -> anyhow::Result<RunOptions> {
                Ok(RunOptions { $( $(
                    $name: <$flag as Layered<$key>>::layer(
                        &self.$group.$name, file.$name.as_ref(), &at(stringify!($name)))?,
                )* )* })
            }
        }

        /// The run options' keys, as in `[defaults]`.
        pub(crate) const KEYS: &[&str] = &[$( $( stringify!($name), )* )*];
    };
}

run_options_table!(define_layering {});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_a_flag_and_a_key() {
        let defaults = super::super::file::keys("[defaults]");
        for key in KEYS {
            assert!(defaults.iter().any(|k| k == key), "{key} is a [defaults] key");
        }
    }
}
