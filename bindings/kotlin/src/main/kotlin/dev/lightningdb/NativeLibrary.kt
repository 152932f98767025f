package dev.lightningdb

import com.sun.jna.Library
import java.io.File
import com.sun.jna.NativeLibrary as JnaLibrary

/**
 * Loads liblightning_db_ffi once, as ONE copy shared by both ways into it: the generated
 * API (JNA) and this layer's JNI entry points. Two copies would be two libraries with two
 * handle tables, and a database handle of one would be unknown to the other.
 *
 * The jar carries the library in JNA's resource layout (`linux-x86-64/liblightning_db_ffi.so`,
 * `darwin-aarch64/liblightning_db_ffi.dylib`, ...). JNA finds it — a system copy first, else
 * the resource, extracted to a temporary file when it is inside a jar — under the same cache
 * key the generated code's `Native.register` uses, so this is the very instance the generated
 * API runs on, whichever of the two loaded first. Its file is then loaded for JNI with
 * System.load (the dynamic loader maps a path once) and named in the generated code's override
 * property, so nothing can load a second copy later.
 *
 * Setting `uniffi.component.lightning_db.libraryOverride` to a library file yourself makes
 * both use that file.
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
        val file = if (given != null) {
            File(given).absoluteFile
        } else {
            val options = mapOf(Library.OPTION_CLASSLOADER to NativeLibrary::class.java.classLoader)
            val lib = JnaLibrary.getInstance("lightning_db_ffi", options)
            lib.file?.absoluteFile
                ?: throw UnsatisfiedLinkError("JNA loaded lightning_db_ffi but cannot say from which file")
        }
        System.setProperty(OVERRIDE, file.path)
        System.load(file.path)
        return file.path
    }
}
