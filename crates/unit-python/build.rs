//! Links the runner so it loads the libpython it was built against: that library's
//! directory goes into the executable's run path, so a Python outside the loader's
//! default directories (pyenv, a custom prefix) is found without `LD_LIBRARY_PATH`.

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    let config = pyo3_build_config::get();
    if let Some(lib_dir) = config.lib_dir() {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{lib_dir}");
    }
}
