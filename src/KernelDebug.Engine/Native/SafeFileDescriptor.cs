using System.Runtime.InteropServices;

namespace KernelDebug.Native;

/// <summary>Owns one file descriptor; closes it exactly once.</summary>
public sealed class SafeFileDescriptor : SafeHandle
{
    public SafeFileDescriptor() : base(new IntPtr(-1), ownsHandle: true) { }

    public SafeFileDescriptor(int fd, bool ownsHandle = true) : base(new IntPtr(-1), ownsHandle) => SetHandle(new IntPtr(fd));

    public override bool IsInvalid => handle.ToInt64() < 0;

    public int Fd => (int)handle.ToInt64();

    protected override bool ReleaseHandle() => Interop.close((int)handle.ToInt64()) == 0;
}
