#!/usr/bin/env bash
# Builds the C# binding with Mono's mcs (C# 7.2; no .NET SDK on this machine) into
# bindings/csharp/build/, and prints that directory:
#   build/lib/LightningDB.dll (+ .xml docs)   the library
#   build/package/LightningDB.<version>.nupkg  the NuGet package (nuget pack of LightningDB.nuspec)
#   build/tests/                               the NUnit tests, the second-process helper,
#                                              the library and the native library beside them
# Usage: build.sh NATIVE_DIR (the directory ci/build-native printed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
native="$1"
root="$(cd "$here/../.." && pwd)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)"
out="$here/build"
rm -rf "$out"
mkdir -p "$out/lib" "$out/tests" "$out/package"

# -warnaserror: a public member without an XML doc comment (CS1591) fails the build.
mcs -nologo -target:library -unsafe -langversion:7.2 -optimize+ -warnaserror+ \
  -doc:"$out/lib/LightningDB.xml" -out:"$out/lib/LightningDB.dll" "$here"/src/*.cs

# Debian's nunit-console package puts the framework under a versioned directory.
nunit="$(find /usr/lib/cli -name nunit.framework.dll -path '*nunit.framework-2.6*' | sort | tail -1)"
[ -n "$nunit" ] || { echo "nunit.framework.dll (2.6) not found; run ci/install-deps-csharp" >&2; exit 1; }
cp "$out/lib/LightningDB.dll" "$native/liblightning_db_ffi.so" "$out/tests/"
mcs -nologo -target:library -langversion:7.2 -r:"$out/tests/LightningDB.dll" -r:"$nunit" \
  -out:"$out/tests/LightningDB.Tests.dll" "$here"/tests/ApiTests.cs "$here"/tests/Conformance.cs "$here"/tests/Json.cs
mcs -nologo -langversion:7.2 -r:"$out/tests/LightningDB.dll" -out:"$out/tests/Reader.exe" "$here"/tests/Reader.cs

# nuget 2.8 reads every <file src> relative to the .nuspec, absolute or not, and
# silently leaves out files outside its directory: stage the native library here.
mkdir -p "$out/native"
cp "$native/liblightning_db_ffi.so" "$out/native/"
(cd "$here" && nuget pack LightningDB.nuspec -NonInteractive -Verbosity quiet -NoPackageAnalysis \
  -Properties "version=$version;build=build/lib;native=build/native" -OutputDirectory "$out/package" >&2)
echo "$out"
