# KernelVm: runs only inside the debug-kernel guest (build.ps1 -Task VmTest); the host run excludes the tag.
# The oracle is the guest kernel itself: its build configuration (/proc/config.gz), tracefs and debugfs files, kallsyms.
BeforeAll {
    . (Join-Path $PSScriptRoot 'KernelVm.Raw.ps1')
    $script:Caps = @{}
    Get-KernelDebugCapability | ForEach-Object { $Caps[$_.Name] = $_ }
    $script:Cfg = [KernelDebug.Host.KernelConfig]::Load()
    function Test-Opens([string] $Path) { try { [System.IO.File]::OpenHandle($Path, 'Open', 'Read').Dispose(); $true } catch { $false } }
}

Describe 'Capability probes on the debug kernel' -Tag KernelVm -Skip:(-not $env:KERNELDEBUG_VM) {
    It 'runs on the 6.1 debug kernel with its configuration readable' {
        (Get-Content /proc/sys/kernel/osrelease) | Should -BeLike '6.1.*'
        $Cfg | Should -Not -BeNullOrEmpty
        $Cfg.Source | Should -Be '/proc/config.gz'
        $Cfg['CONFIG_KASAN'] | Should -Be 'y'
    }

    It 'finds kprobes: kprobe_events is there and CONFIG_KPROBE_EVENTS=y' {
        $Cfg['CONFIG_KPROBE_EVENTS'] | Should -Be 'y'
        Test-Path "$TraceFs/kprobe_events" | Should -BeTrue
        $Caps.Kprobes.Available | Should -BeTrue
        $Caps.Kprobes.Detail | Should -Be 'kprobe_events is present'
        Test-KernelDebugCapability Kprobes | Should -BeTrue
    }

    It 'finds the <Name> tracer listed and its function list readable' -ForEach @(
        @{ Name = 'FunctionTracer'; Tracer = 'function'; Option = 'CONFIG_FUNCTION_TRACER' }
        @{ Name = 'FunctionGraphTracer'; Tracer = 'function_graph'; Option = 'CONFIG_FUNCTION_GRAPH_TRACER' }
    ) {
        $Cfg[$Option] | Should -Be 'y'
        (Read-RawFile "$TraceFs/available_tracers") -split '\s+' | Should -Contain $Tracer
        Test-Opens "$TraceFs/available_filter_functions" | Should -BeTrue
        $Caps[$Name].Available | Should -BeTrue
        $Caps[$Name].Detail | Should -Be "the $Tracer tracer is available and its function list is readable"
    }

    It 'finds eprobes: the eprobe code is in the kernel and dynamic_events takes definitions' {
        # 6.1 builds eprobes without a Kconfig option of their own (CONFIG_EPROBE_EVENTS came later), so the probe must not
        # conclude from the option's absence; the oracle is the eprobe code in kallsyms.
        Test-Path "$TraceFs/dynamic_events" | Should -BeTrue
        [bool] (Select-String -Path /proc/kallsyms -Pattern ' eprobe_register$' -Quiet) | Should -BeTrue
        $Caps.Eprobes.Available | Should -BeTrue
        $Caps.Eprobes.Detail | Should -Match 'dynamic_events'
    }

    It 'finds hist triggers: CONFIG_HIST_TRIGGERS=y and events have hist files' {
        $Cfg['CONFIG_HIST_TRIGGERS'] | Should -Be 'y'
        Test-Path "$TraceFs/events/sched/sched_switch/hist" | Should -BeTrue
        $Caps.HistTriggers.Available | Should -BeTrue
        $Caps.HistTriggers.Detail | Should -Be 'events have hist files and the README documents hist:keys='
    }

    It 'finds kmemleak: its debugfs file opens' {
        $Cfg['CONFIG_DEBUG_KMEMLEAK'] | Should -Be 'y'
        Test-Opens "$DebugFs/kmemleak" | Should -BeTrue
        $Caps.Kmemleak.Available | Should -BeTrue
        $Caps.Kmemleak.Detail | Should -Be "$DebugFs/kmemleak is present and readable"
    }

    It 'finds KASAN in generic mode' {
        $Cfg['CONFIG_KASAN_GENERIC'] | Should -Be 'y'
        $Caps.Kasan.Available | Should -BeTrue
        $Caps.Kasan.Detail | Should -Be 'CONFIG_KASAN=y (generic); reports appear in the kernel log'
    }

    It 'finds UBSAN, which Get-KasanReport also reads' {
        $Cfg['CONFIG_UBSAN'] | Should -Be 'y'
        $Caps.Ubsan.Available | Should -BeTrue
        $Caps.Ubsan.Detail | Should -Be 'CONFIG_UBSAN=y; reports appear in the kernel log'
    }

    It 'finds KFENCE with the sample interval the kernel reports' {
        $interval = (Get-Content /sys/module/kfence/parameters/sample_interval).Trim()
        $interval | Should -Be $Cfg['CONFIG_KFENCE_SAMPLE_INTERVAL']
        $Caps.Kfence.Available | Should -BeTrue
        $Caps.Kfence.Detail | Should -Be "KFENCE samples every $interval ms"
    }

    It 'reports fprobe events missing: 6.1 has fprobe but no f: syntax in dynamic_events' {
        # CONFIG_FPROBE is built in (register_fprobe exists), yet fprobe trace events came only in 6.5.
        $Cfg['CONFIG_FPROBE'] | Should -Be 'y'
        [bool] (Select-String -Path /proc/kallsyms -Pattern ' register_fprobe$' -Quiet) | Should -BeTrue
        Read-RawFile "$TraceFs/README" | Should -Not -Match '\bf\[:\['
        $Cfg['CONFIG_FPROBE_EVENTS'] | Should -BeNullOrEmpty
        $Caps.Fprobes.Available | Should -BeFalse
        $Caps.Fprobes.Detail | Should -Be "the tracefs README lists no 'f[:[<group>/][<event>]]' syntax for dynamic_events: CONFIG_FPROBE_EVENTS is not in /proc/config.gz (its prerequisites are off)"
        $Caps.Fprobes.Remedy | Should -Be 'Boot a kernel built with CONFIG_FPROBE_EVENTS.'
        Test-KernelDebugCapability Kprobes, Fprobes | Should -BeFalse
    }

    It 'agrees with Test-KernelDebugCapability on everything the VM tests rely on' {
        Test-KernelDebugCapability Kprobes, Eprobes, FunctionTracer, FunctionGraphTracer, HistTriggers, Kmemleak, Kasan, Kfence, TraceInstances, KernelLog | Should -BeTrue
    }
}
