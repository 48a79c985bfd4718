//! What the runner needs inside an application's root directory, which it names at
//! discovery (`mount <path>` lines after its version) and main mounts there for
//! `isolation.automount.language_deps`.
//!
//! Unit mounts the directories of its module's `sys.path` (the one ending in
//! `pythonX.Y`, and every other entry not under it), computed when the module was
//! built; its module is a library already loaded when the process changes root. This
//! runner is a program executed inside the root directory, so it also names itself,
//! the dynamic loader its executable asks for, and every file it has mapped once the
//! interpreter is up (libpython, the C library and the rest), each to be bound at the
//! same path inside.
//!
//! What it does not do: check that the paths exist (main skips what is missing) or
//! mount anything.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use pyo3::prelude::*;

use crate::interpreter;

/// The program header type of the dynamic loader's path.
const PT_INTERP: u32 = 3;
/// How much of the executable is read for its program headers and loader path, which
/// come right after the ELF header.
const ELF_HEAD: u64 = 64 * 1024;

/// The paths to mount, in the order they are found; `argv0` is how the runner was
/// started (main starts it by the same path).
pub(crate) fn language_deps(argv0: Option<&str>) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut push = |path: PathBuf| {
        if path.is_absolute() && !paths.contains(&path) {
            paths.push(path);
        }
    };
    // The interpreter is started as an application's would be, so its search path and
    // the libraries it maps are those an application gets.
    if interpreter::initialize(None).is_ok()
        && let Ok(search_path) = Python::attach(|py| -> PyResult<Vec<String>> {
            py.import("sys")?.getattr("path")?.extract()
        })
    {
        let version = interpreter::python_version();
        search_path_mounts(&search_path, &version)
            .into_iter()
            .for_each(&mut push);
    }
    let executable = std::env::current_exe().ok();
    if let Some(argv0) = argv0.map(PathBuf::from).filter(|path| path.is_absolute()) {
        push(argv0);
    }
    if let Some(executable) = &executable {
        if let Some(loader) = elf_interpreter(executable) {
            push(loader);
        }
        push(executable.clone());
    }
    for file in mapped_files() {
        // The loader looks a library up by the name the program asks for (its
        // soname, `libz.so.1`), mostly a link to the file mapped (`libz.so.1.2.13`).
        for link in links_to(&file) {
            push(link);
        }
        push(file);
    }
    paths
}

/// The symbolic links beside a shared library that lead to it: the names it is
/// found by.
fn links_to(library: &Path) -> Vec<PathBuf> {
    let (Some(directory), Some(name)) = (
        library.parent(),
        library.file_name().and_then(|name| name.to_str()),
    ) else {
        return Vec::new();
    };
    let Some(stem) = name.find(".so").map(|end| &name[..end + 3]) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut links: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|entry_name| entry_name.starts_with(stem) && entry_name != name)
        })
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_symlink()))
        .map(|entry| entry.path())
        .filter(|link| std::fs::canonicalize(link).is_ok_and(|target| target == library))
        .collect();
    links.sort();
    links
}

/// Unit's choice from `sys.path`: the entry named `pythonX.Y`, then every other entry
/// not inside it.
fn search_path_mounts(search_path: &[String], version: &str) -> Vec<PathBuf> {
    let mut parts = version.split('.');
    let (Some(major), Some(minor)) = (parts.next(), parts.next()) else {
        return Vec::new();
    };
    let name = format!("python{major}.{minor}");
    let entries: Vec<&Path> = search_path
        .iter()
        .filter(|entry| !entry.is_empty())
        .map(Path::new)
        .collect();
    // As Unit's build script, the last entry with that name is the base.
    let Some(base) = entries
        .iter()
        .rev()
        .find(|entry| entry.file_name().is_some_and(|file| file == name.as_str()))
        .copied()
    else {
        return Vec::new();
    };
    let mut mounts = vec![base.to_path_buf()];
    for entry in entries {
        if !entry.starts_with(base) {
            mounts.push(entry.to_path_buf());
        }
    }
    mounts
}

/// The files this process has mapped: its executable, the loader, the libraries.
fn mapped_files() -> BTreeSet<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines()
        .filter_map(|line| {
            // address perms offset device inode path; the path may hold spaces.
            let path = line.splitn(6, ' ').nth(5)?.trim_start();
            path.starts_with('/').then_some(path)
        })
        .filter(|path| !path.ends_with(" (deleted)") && !path.starts_with("/dev/"))
        .map(PathBuf::from)
        .filter(|path| path.is_file())
        .collect()
}

/// The dynamic loader an ELF executable names (`PT_INTERP`), as the kernel opens it:
/// by that path, inside whatever root the process has.
fn elf_interpreter(executable: &Path) -> Option<PathBuf> {
    let mut head = Vec::new();
    File::open(executable)
        .ok()?
        .take(ELF_HEAD)
        .read_to_end(&mut head)
        .ok()?;
    parse_elf_interpreter(&head)
}

/// Reads `PT_INTERP` from the start of an ELF file.
fn parse_elf_interpreter(head: &[u8]) -> Option<PathBuf> {
    if head.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match head.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match head.get(5)? {
        1 => true,
        2 => false,
        _ => return None,
    };
    let number = |offset: usize, size: usize| -> Option<u64> {
        let bytes = head.get(offset..offset.checked_add(size)?)?;
        let mut value = 0u64;
        for index in 0..size {
            let byte = if little {
                bytes[size - 1 - index]
            } else {
                bytes[index]
            };
            value = (value << 8) | u64::from(byte);
        }
        Some(value)
    };
    let (phoff, phentsize, phnum) = if wide {
        (number(0x20, 8)?, number(0x36, 2)?, number(0x38, 2)?)
    } else {
        (number(0x1c, 4)?, number(0x2a, 2)?, number(0x2c, 2)?)
    };
    for index in 0..phnum {
        let header = usize::try_from(phoff.checked_add(index.checked_mul(phentsize)?)?).ok()?;
        if number(header, 4)? != u64::from(PT_INTERP) {
            continue;
        }
        let (offset, size) = if wide {
            (number(header + 8, 8)?, number(header + 32, 8)?)
        } else {
            (number(header + 4, 4)?, number(header + 16, 4)?)
        };
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        let text = head.get(start..end)?;
        let text = text.split(|byte| *byte == 0).next()?;
        return std::str::from_utf8(text).ok().map(PathBuf::from);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_path_is_chosen_as_unit_does() {
        let search_path: Vec<String> = [
            "",
            "/usr/lib/python311.zip",
            "/usr/lib/python3.11",
            "/usr/lib/python3.11/lib-dynload",
            "/usr/local/lib/python3.11/dist-packages",
            "/usr/lib/python3/dist-packages",
        ]
        .iter()
        .map(|entry| (*entry).to_owned())
        .collect();
        assert_eq!(
            search_path_mounts(&search_path, "3.11.2"),
            [
                "/usr/lib/python3.11",
                "/usr/lib/python311.zip",
                "/usr/local/lib/python3.11/dist-packages",
                "/usr/lib/python3/dist-packages",
            ]
            .map(PathBuf::from)
        );
        assert!(search_path_mounts(&search_path, "3.12.1").is_empty());
    }

    #[test]
    fn the_loader_is_read_from_the_program_headers() {
        let executable = std::env::current_exe().expect("the test binary");
        let loader = elf_interpreter(&executable);
        // A static test binary has none; a dynamic one names an absolute path.
        if let Some(loader) = loader {
            assert!(loader.is_absolute(), "{loader:?}");
        }
        assert_eq!(parse_elf_interpreter(b"#!/bin/sh\n"), None);
        assert_eq!(parse_elf_interpreter(b"\x7fELF"), None);
        // A 64-bit little-endian header with one program header, PT_INTERP.
        let mut elf = vec![0u8; 0x40 + 0x38];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[0x20] = 0x40;
        elf[0x36] = 0x38;
        elf[0x38] = 1;
        let path = b"/lib/ld.so\0";
        let offset = elf.len();
        elf.extend_from_slice(path);
        elf[0x40] = 3;
        elf[0x48] = offset as u8;
        elf[0x60] = path.len() as u8;
        assert_eq!(
            parse_elf_interpreter(&elf),
            Some(PathBuf::from("/lib/ld.so"))
        );
    }
}
