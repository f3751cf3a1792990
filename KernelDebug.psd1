@{
    RootModule           = 'KernelDebug.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5b0c3f4e-8d7a-4c1e-9f62-3a8e1d2b7c40'
    Author               = 'KernelDebug contributors'
    CompanyName          = 'KernelDebug'
    Copyright            = '(c) KernelDebug contributors. MIT License.'
    Description          = 'Typed, pipeline-native access to the Linux kernel''s debugging interfaces: perf events, ftrace and trace events, dynamic probes, syscall and library-call tracing, eBPF, kmemleak, the kernel log and KASAN reports.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')

    FormatsToProcess     = @(
        'KernelDebug.Format.ps1xml'
        'KernelDebug.Ftrace.Format.ps1xml'
        'KernelDebug.Probes.Format.ps1xml'
        'KernelDebug.Perf.Format.ps1xml'
        'KernelDebug.Syscall.Format.ps1xml'
        'KernelDebug.Bpf.Format.ps1xml'
        'KernelDebug.Memory.Format.ps1xml'
    )
    TypesToProcess       = @(
        'KernelDebug.Types.ps1xml'
    )

    # One line per cmdlet, grouped by area; build.ps1's tests check this list against the cmdlets in the dll.
    CmdletsToExport      = @(
        # host
        'Get-KernelDebugCapability'
        'Test-KernelDebugCapability'
        'Invoke-KernelDebugHealthCheck'

        # ftrace
        'New-FtraceInstance'
        'Get-FtraceInstance'
        'Remove-FtraceInstance'
        'Get-FtraceTracer'
        'Set-FtraceTracer'
        'Get-FtraceFilter'
        'Set-FtraceFilter'
        'Clear-FtraceFilter'
        'Get-TraceEvent'
        'Enable-TraceEvent'
        'Disable-TraceEvent'
        'Start-Ftrace'
        'Stop-Ftrace'
        'Clear-FtraceBuffer'
        'Write-TraceMarker'
        'Receive-TraceEvent'
        'Import-TraceDat'
        'Export-TraceDat'
        'New-TraceEventTrigger'
        'Get-TraceEventTrigger'
        'Remove-TraceEventTrigger'
        'Get-TraceHistogram'
        'New-TraceHistogram'
        'Clear-TraceHistogram'
        'Suspend-TraceHistogram'
        'Resume-TraceHistogram'
        'Remove-TraceHistogram'
        'New-SyntheticEvent'
        'Get-SyntheticEvent'
        'Remove-SyntheticEvent'
        'Measure-WakeupLatency'
        'Invoke-Ftrace'

        # probes
        'New-Uprobe'
        'New-Kprobe'
        'New-Eprobe'
        'New-Fprobe'
        'Get-Kprobe'
        'Get-Uprobe'
        'Get-DynamicEvent'
        'Remove-Kprobe'
        'Remove-Uprobe'
        'Remove-DynamicEvent'

        # perf
        'Get-PerfEvent'
        'Measure-PerfCounter'
        'Get-PerfSample'
        'Get-PerfRecord'
        'Start-PerfRecord'
        'Stop-PerfRecord'
        'Wait-PerfRecord'
        'Get-PerfReport'
        'Get-PerfAnnotation'
        'Compare-PerfReport'
        'Export-FlameGraph'
        'Watch-PerfTop'

        # syscall and library-call tracing
        'Get-SyscallTrace'
        'Measure-Syscall'
        'Get-LibraryCallTrace'
        'Measure-LibraryCall'

        # bpf and script engines
        'Get-BpfProgram'
        'Get-BpfMap'
        'Get-BpfLink'
        'Get-BpfBtf'
        'Read-BpfMap'
        'Import-BpfObject'
        'Start-BpfProgram'
        'Stop-BpfProgram'
        'Receive-BpfEvent'
        'Remove-BpfObject'
        'Invoke-BpfObject'
        'Invoke-Bpftrace'
        'Invoke-SystemTap'

        # memory debugging and kernel log
        'Get-KernelLog'
        'Get-KasanReport'
        'Get-KmemleakReport'
        'Invoke-KmemleakScan'
        'Clear-KmemleakReport'
        'Set-KmemleakOption'

    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()

    PrivateData          = @{
        PSData = @{
            Tags         = @('Linux', 'Kernel', 'perf', 'ftrace', 'tracing', 'eBPF', 'strace', 'kprobes', 'uprobes', 'debugging', 'PSEdition_Core')
            # The package carries LICENSE; there is no public project site yet, so no ProjectUri.
            LicenseUri   = 'https://opensource.org/license/mit'
            ReleaseNotes = '0.1.0: first release: typed access to perf events, ftrace, dynamic probes, syscall and library-call tracing, eBPF, kmemleak, the kernel log and KASAN reports; program output captured in jobs and over remoting; health checks that never pass falsely; progress bars on long work; -ProcessId completion. See CHANGELOG.md in the module folder.'
        }
    }
}
