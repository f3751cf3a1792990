using System.Buffers.Binary;
using System.Diagnostics;
using System.Management.Automation;
using System.Runtime.InteropServices;
using KernelDebug.Launch;
using KernelDebug.Native;
using Xunit;

namespace KernelDebug.Tests.Launch;

public class ChildLauncherTests
{
    private static string TempFile() => Path.Combine(Path.GetTempPath(), $"kd-launch-{Guid.NewGuid():N}");

    private static char ProcState(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[stat.LastIndexOf(')') + 2];
    }

    [Fact]
    public void TheCommandDiesWithTheThreadThatLaunchedIt()
    {
        // PR_SET_PDEATHSIG (set by the trampoline, kept across execve): when its launcher goes, even SIGKILLed, the
        // command gets SIGKILL instead of running on untraced or staying stopped.
        LaunchedProcess? child = null;
        var launcher = new Thread(() =>
        {
            child = ChildLauncher.StartStopped("/bin/sleep", new[] { "30" });
            child.Resume();
            Assert.Equal(0, child.WaitForExec());
        });
        launcher.Start();
        launcher.Join();
        Assert.NotNull(child);
        using (child)
        {
            var clock = Stopwatch.StartNew();
            var ws = child!.WaitForExit();
            Assert.True(ws.Signaled, $"sleep ended with {ws}, not by a signal");
            Assert.Equal(Interop.SIGKILL, ws.TermSignal);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20));
        }
    }

    [Fact]
    public void ACommandStartedOnTheLauncherThreadOutlivesTheThreadThatAskedForIt()
    {
        // A background recording's command must live on after the cmdlet's thread (a thread job) ends.
        LaunchedProcess? child = null;
        var caller = new Thread(() =>
        {
            child = ChildLauncher.StartStoppedOnLauncherThread(new LaunchTarget("/bin/sleep", new[] { "1" }, new LaunchOptions()));
            child.Resume();
            Assert.Equal(0, child.WaitForExec());
        });
        caller.Start();
        caller.Join();
        using (child!)
        {
            var ws = child!.WaitForExit();
            Assert.True(ws.Exited && ws.ExitCode == 0, $"sleep 1 ended with {ws}");
        }
    }

    [Fact]
    public void TheChildWaitsStoppedBeforeExecThenRunsTheCommandWithItsArguments()
    {
        var output = TempFile();
        using var child = ChildLauncher.StartStopped("echo", new[] { "a b", "$HOME", ";" }, new LaunchOptions { StandardOutputPath = output });
        try
        {
            Assert.Equal('T', ProcState(child.ProcessId));
            // Still the trampoline: the command has not been executed yet.
            Assert.StartsWith("/memfd:kerneldebug-launch", new FileInfo($"/proc/{child.ProcessId}/exe").LinkTarget);
            child.Resume();
            Assert.Equal(0, child.WaitForExec());
            var status = child.WaitForExit();
            Assert.True(status.Exited);
            Assert.Equal(0, status.ExitCode);
            Assert.Equal("a b $HOME ;\n", File.ReadAllText(output));
        }
        finally { File.Delete(output); }
    }

    [Fact]
    public void WorkingDirectoryAndEnvironmentReachTheCommand()
    {
        var output = TempFile();
        var env = new Dictionary<string, string> { ["KD_PROBE"] = "value with spaces", ["PATH"] = "/usr/bin:/bin" };
        using var child = ChildLauncher.StartStopped("/usr/bin/env", Array.Empty<string>(), new LaunchOptions { WorkingDirectory = "/tmp", Environment = env, StandardOutputPath = output });
        try
        {
            child.Resume();
            Assert.Equal(0, child.WaitForExit().ExitCode);
            Assert.Equal(new[] { "KD_PROBE=value with spaces", "PATH=/usr/bin:/bin" }, File.ReadAllLines(output).OrderBy(l => l, StringComparer.Ordinal));
        }
        finally { File.Delete(output); }

        var pwdOut = TempFile();
        using var pwd = ChildLauncher.StartStopped("pwd", Array.Empty<string>(), new LaunchOptions { WorkingDirectory = "/tmp", StandardOutputPath = pwdOut });
        try
        {
            pwd.Resume();
            pwd.WaitForExit();
            Assert.Equal("/tmp\n", File.ReadAllText(pwdOut));
        }
        finally { File.Delete(pwdOut); }
    }

    [Fact]
    public void AnExecFailureIsReportedWithItsErrno()
    {
        var bogus = TempFile();
        File.WriteAllBytes(bogus, new byte[] { 0, 1, 2, 3, 4, 5, 6, 7 });
        File.SetUnixFileMode(bogus, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            using var child = ChildLauncher.StartStopped(bogus, Array.Empty<string>());
            child.Resume();
            Assert.Equal(Errno.ENOEXEC, child.WaitForExec());
            Assert.Equal(Errno.ENOEXEC, child.WaitForExit().ExitCode);
            var ex = Assert.Throws<KernelDebugException>(() => LaunchedProcess.ThrowIfExecFailed(Errno.ENOEXEC, bogus));
            Assert.Equal("execve.ENOEXEC", ex.ErrorId);
        }
        finally { File.Delete(bogus); }
    }

    [Fact]
    public void MissingAndNonExecutableCommandsAreClearErrors()
    {
        var missing = Assert.Throws<KernelDebugException>(() => ChildLauncher.StartStopped("kerneldebug-no-such-command", Array.Empty<string>()));
        Assert.Equal("CommandNotFound", missing.ErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, missing.Category);

        var plain = TempFile();
        File.WriteAllText(plain, "x");
        try
        {
            var ex = Assert.Throws<KernelDebugException>(() => ChildLauncher.StartStopped(plain, Array.Empty<string>()));
            Assert.Equal(ErrorCategory.PermissionDenied, ex.Category);
        }
        finally { File.Delete(plain); }
    }

    [Fact]
    public void DisposingAStoppedChildKillsAndReapsIt()
    {
        int pid;
        using (var child = ChildLauncher.StartStopped("sleep", new[] { "100" })) pid = child.ProcessId;
        Assert.False(Directory.Exists($"/proc/{pid}"));
    }

    [Fact]
    public void ASeccompFilterIsInstalledBeforeExec()
    {
        // Classic BPF: if arch matches and nr == uname, return ERRNO(EPERM); otherwise allow.
        bool x64 = RuntimeInformation.ProcessArchitecture == Architecture.X64;
        uint auditArch = x64 ? 0xC000003Eu : 0xC00000B7u;
        uint unameNr = x64 ? 63u : 160u;
        var prog = new List<(ushort Code, byte Jt, byte Jf, uint K)>
        {
            (0x20, 0, 0, 4),              // ld [4] (arch)
            (0x15, 0, 3, auditArch),      // jeq arch, next, allow
            (0x20, 0, 0, 0),              // ld [0] (nr)
            (0x15, 0, 1, unameNr),        // jeq uname, deny, allow
            (0x06, 0, 0, 0x00050000 | 1), // ret ERRNO(EPERM)
            (0x06, 0, 0, 0x7fff0000),     // ret ALLOW
        };
        var bytes = new byte[prog.Count * 8];
        for (int i = 0; i < prog.Count; i++)
        {
            var s = bytes.AsSpan(i * 8);
            BinaryPrimitives.WriteUInt16LittleEndian(s, prog[i].Code);
            s[2] = prog[i].Jt;
            s[3] = prog[i].Jf;
            BinaryPrimitives.WriteUInt32LittleEndian(s[4..], prog[i].K);
        }
        var err = TempFile();
        using var child = ChildLauncher.StartStopped("uname", Array.Empty<string>(), new LaunchOptions { SeccompFilter = bytes, StandardErrorPath = err, StandardOutputPath = "/dev/null" });
        try
        {
            child.Resume();
            Assert.Equal(0, child.WaitForExec());
            Assert.NotEqual(0, child.WaitForExit().ExitCode);
            Assert.Contains("Operation not permitted", File.ReadAllText(err));
        }
        finally { File.Delete(err); }
        // The same program without the filter succeeds.
        using var plain = ChildLauncher.StartStopped("uname", Array.Empty<string>(), new LaunchOptions { StandardOutputPath = "/dev/null" });
        plain.Resume();
        Assert.Equal(0, plain.WaitForExit().ExitCode);
    }

    [Fact]
    public void TheCheckedInTrampolineBytesAreTheAssembledSources()
    {
        var dir = Path.Combine(RepoRoot(), "src/KernelDebug.Engine/Launch/trampoline");
        foreach (var (arch, asm, objcopy, code) in new[]
        {
            ("x86_64", "/usr/bin/as", "/usr/bin/objcopy", Trampoline.CodeFor(Architecture.X64)),
            ("aarch64", "/usr/bin/aarch64-linux-gnu-as", "/usr/bin/aarch64-linux-gnu-objcopy", Trampoline.CodeFor(Architecture.Arm64)),
        })
        {
            Assert.True(File.Exists(Path.Combine(dir, $"trampoline-{arch}.S")));
            // The assembler for the host architecture comes with gcc; the aarch64 one only when binutils-aarch64-linux-gnu is installed.
            if (!File.Exists(asm) || (arch == "x86_64" && RuntimeInformation.ProcessArchitecture != Architecture.X64)) continue;
            var tmp = Directory.CreateTempSubdirectory("kd-asm-");
            try
            {
                Run(asm, arch == "x86_64" ? "--64" : "-EL", "-o", Path.Combine(tmp.FullName, "t.o"), Path.Combine(dir, $"trampoline-{arch}.S"));
                Run(objcopy, "-O", "binary", "-j", ".text", Path.Combine(tmp.FullName, "t.o"), Path.Combine(tmp.FullName, "t.bin"));
                Assert.Equal(File.ReadAllBytes(Path.Combine(tmp.FullName, "t.bin")), code);
            }
            finally { tmp.Delete(true); }
        }
    }

    private static string RepoRoot()
    {
        var d = AppContext.BaseDirectory;
        while (d is not null && !File.Exists(Path.Combine(d, "KernelDebug.psd1"))) d = Path.GetDirectoryName(d);
        return d ?? throw new InvalidOperationException("repository root not found");
    }

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, err);
    }
}
