package dev.lightningdb

import com.sun.jna.Native
import com.sun.jna.Platform
import java.io.File
import java.io.IOException

/**
 * Loads liblightning_db_ffi once, as ONE copy shared by both ways into it: the generated
 * API (JNA) and this layer's JNI entry points. Two copies would be two libraries with two
 * handle tables, and a database handle of one would be unknown to the other.
 *
 * The jar carries the library in JNA's resource layout (`linux-x86-64/liblightning_db_ffi.so`,
 * `darwin-aarch64/liblightning_db_ffi.dylib`, ...). JNA's resource lookup finds it for this
 * platform: inside a jar it extracts it to a temporary file, in a classes directory it is the
 * file itself. That one file is loaded for JNI (System.load), then named in the generated
 * code's override property and the generated code is initialised, so JNA opens the same path
 * (the dynamic loader maps a path once). Only then is an extracted copy removed: on Linux and
 * macOS the mapping outlives the file.
 *
 * Setting `uniffi.component.lightning_db.libraryOverride` to a library file yourself makes
 * both use that file. Using `dev.lightningdb.generated` before any class of this package
 * would let JNA load a copy of its own: start from [LightningDB].
 */
internal object NativeLibrary {
    private const val OVERRIDE = "uniffi.component.lightning_db.libraryOverride"

    /** The absolute path of the loaded library. */
    val path: String by lazy(::load)

    fun ensureLoaded() {
        path
    }

    private fun load(): String {
        val given = System.getProperty(OVERRIDE)
        val file: File
        var extracted = false
        if (given != null) {
            file = File(given).absoluteFile
        } else {
            file = try {
                Native.extractFromResourcePath("lightning_db_ffi", NativeLibrary::class.java.classLoader).absoluteFile
            } catch (e: IOException) {
                throw UnsatisfiedLinkError(
                    "no liblightning_db_ffi for ${Platform.RESOURCE_PREFIX} in the jar: ${e.message}",
                )
            }
            // A resource that is a plain file (a classes directory) is used in place.
            val resource = NativeLibrary::class.java.classLoader
                .getResource("${Platform.RESOURCE_PREFIX}/${System.mapLibraryName("lightning_db_ffi")}")
            extracted = resource?.protocol != "file"
            System.setProperty(OVERRIDE, file.path)
        }
        System.load(file.path)
        dev.lightningdb.generated.uniffiEnsureInitialized()
        if (extracted && !file.delete()) file.deleteOnExit()
        return file.path
    }
}
