// ns-3 peer of scenarios/incast.toml (this project's own program, for comparisons only; not part
// of CI). N senders each send one flow of P MSS-sized segments to one receiver through one
// switch; every link 10 Gbit/s, 5 us (base RTT 20 us); DCTCP with step marking at the switch.
//
// Matching the testbed: step marking is RED with QW = 1 (instantaneous queue), MinTh = MaxTh,
// Gentle off, ECN marking instead of drops (UseHardDrop off), hard limit 1000 packets. The NIC
// queue is 1 packet and the queue disc holds limit - 1, so 1000 wait as in the testbed; the
// testbed marks an arriving packet when at least K packets wait (the one on the wire not
// counted), and ns-3's RED counts only the queue disc, one fewer than wait in all while the link
// is busy, so MinTh = MaxTh = K - nicQueuePkts. MSS 1460 (timestamps off: 1500-byte packets),
// SACK, an ACK per segment, IW 10, min RTO 1 ms, starts uniform in [0, jitter).
//
// Prints `key value` lines: ce_marks (at the switch port to the receiver), drops, timeouts,
// completion span (first start to last flow's last byte at the receiver).

#include "ns3/applications-module.h"
#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/network-module.h"
#include "ns3/point-to-point-module.h"
#include "ns3/traffic-control-module.h"

#include <cstdio>
#include <vector>

using namespace ns3;

namespace
{
std::vector<Ptr<PacketSink>> g_sinks;
std::vector<Ptr<Application>> g_sources;
std::vector<double> g_done;
std::vector<uint64_t> g_timeouts;
std::vector<uint64_t> g_rtx;
std::vector<uint32_t> g_highest;
uint64_t g_flowBytes = 0;
uint32_t g_minCwnd = UINT32_MAX;
uint32_t g_maxQueue = 0;

void
OnCwnd(uint32_t, uint32_t now)
{
    g_minCwnd = std::min(g_minCwnd, now);
}

void
OnQueue(uint32_t, uint32_t now)
{
    g_maxQueue = std::max(g_maxQueue, now);
}

void
OnRx(uint32_t i, Ptr<const Packet>, const Address&)
{
    if (g_done[i] < 0 && g_sinks[i]->GetTotalRx() >= g_flowBytes)
    {
        g_done[i] = Simulator::Now().GetSeconds();
    }
}

void
OnCongState(uint32_t i, TcpSocketState::TcpCongState_t, TcpSocketState::TcpCongState_t now)
{
    if (now == TcpSocketState::CA_LOSS)
    {
        g_timeouts[i]++;
    }
}

void
OnTx(uint32_t i, Ptr<const Packet> p, const TcpHeader& h, Ptr<const TcpSocketBase>)
{
    if (p->GetSize() == 0)
    {
        return;
    }
    uint32_t end = h.GetSequenceNumber().GetValue() + p->GetSize();
    if (end <= g_highest[i])
    {
        g_rtx[i]++;
    }
    g_highest[i] = std::max(g_highest[i], end);
}

void
HookOne(uint32_t i)
{
    Ptr<TcpSocketBase> t =
        DynamicCast<TcpSocketBase>(DynamicCast<BulkSendApplication>(g_sources[i])->GetSocket());
    NS_ABORT_MSG_IF(!t, "no TCP socket for flow " << i);
    t->TraceConnectWithoutContext("CongState", MakeBoundCallback(&OnCongState, i));
    t->TraceConnectWithoutContext("Tx", MakeBoundCallback(&OnTx, i));
    t->TraceConnectWithoutContext("CongestionWindow", MakeCallback(&OnCwnd));
}
} // namespace

int
main(int argc, char* argv[])
{
    uint32_t senders = 50;
    uint32_t packets = 100;
    double rateMbps = 10000.0;
    double delayUs = 5.0;
    uint32_t kPkts = 65;
    uint32_t limitPkts = 1000;
    uint32_t nicQueuePkts = 1;
    double jitterUs = 10.0;
    uint32_t mss = 1460;
    double minRtoMs = 1.0;
    uint32_t initCwnd = 10;
    uint32_t delAck = 1;
    std::string recovery = "prr";
    uint32_t seed = 1;
    bool compensatePpp = true;

    CommandLine cmd(__FILE__);
    cmd.AddValue("senders", "number of senders", senders);
    cmd.AddValue("packets", "segments per sender", packets);
    cmd.AddValue("rateMbps", "every link's rate", rateMbps);
    cmd.AddValue("delayUs", "every link's one-way delay", delayUs);
    cmd.AddValue("k", "marking threshold K in packets, as the testbed counts them", kPkts);
    cmd.AddValue("limit", "hard limit, packets", limitPkts);
    cmd.AddValue("nicQueuePkts", "NIC (device) queue, packets", nicQueuePkts);
    cmd.AddValue("jitterUs", "starts uniform in [0, jitter)", jitterUs);
    cmd.AddValue("mss", "segment size", mss);
    cmd.AddValue("minRtoMs", "minimum RTO", minRtoMs);
    cmd.AddValue("initCwnd", "initial window, segments", initCwnd);
    cmd.AddValue("delAck", "TcpSocket::DelAckCount", delAck);
    cmd.AddValue("recovery", "prr or classic", recovery);
    cmd.AddValue("seed", "RNG run number (start jitter)", seed);
    cmd.AddValue("compensatePpp", "scale link rates by 1502/1500 (PPP header)", compensatePpp);
    cmd.Parse(argc, argv);

    RngSeedManager::SetSeed(1);
    RngSeedManager::SetRun(seed);
    g_flowBytes = uint64_t(packets) * mss;

    Config::SetDefault("ns3::TcpL4Protocol::SocketType", StringValue("ns3::TcpDctcp"));
    Config::SetDefault("ns3::TcpL4Protocol::RecoveryType",
                       TypeIdValue(recovery == "prr" ? TcpPrrRecovery::GetTypeId()
                                                     : TcpClassicRecovery::GetTypeId()));
    Config::SetDefault("ns3::TcpSocket::SegmentSize", UintegerValue(mss));
    Config::SetDefault("ns3::TcpSocket::InitialCwnd", UintegerValue(initCwnd));
    Config::SetDefault("ns3::TcpSocket::DelAckCount", UintegerValue(delAck));
    Config::SetDefault("ns3::TcpSocket::SndBufSize", UintegerValue(16 << 20));
    Config::SetDefault("ns3::TcpSocket::RcvBufSize", UintegerValue(16 << 20));
    Config::SetDefault("ns3::TcpSocket::ConnTimeout", TimeValue(Seconds(1)));
    Config::SetDefault("ns3::TcpSocket::DataRetries", UintegerValue(1000000));
    Config::SetDefault("ns3::TcpSocketBase::MinRto", TimeValue(MilliSeconds(minRtoMs)));
    Config::SetDefault("ns3::TcpSocketBase::Sack", BooleanValue(true));
    Config::SetDefault("ns3::TcpSocketBase::Timestamp", BooleanValue(false));
    // Step marking: RED on the instantaneous queue, MinTh = MaxTh, mark instead of drop.
    uint32_t th = kPkts > nicQueuePkts ? kPkts - nicQueuePkts : 0;
    Config::SetDefault("ns3::RedQueueDisc::UseEcn", BooleanValue(true));
    Config::SetDefault("ns3::RedQueueDisc::UseHardDrop", BooleanValue(false));
    Config::SetDefault("ns3::RedQueueDisc::Gentle", BooleanValue(false));
    Config::SetDefault("ns3::RedQueueDisc::QW", DoubleValue(1.0));
    Config::SetDefault("ns3::RedQueueDisc::MinTh", DoubleValue(th));
    Config::SetDefault("ns3::RedQueueDisc::MaxTh", DoubleValue(th));
    Config::SetDefault("ns3::RedQueueDisc::MaxSize",
                       QueueSizeValue(QueueSize(std::to_string(limitPkts - nicQueuePkts) + "p")));

    double ppp = compensatePpp ? 1502.0 / 1500.0 : 1.0;
    NodeContainer hosts;
    hosts.Create(senders);
    Ptr<Node> rx = CreateObject<Node>();
    Ptr<Node> sw = CreateObject<Node>();
    InternetStackHelper stack;
    stack.InstallAll();

    PointToPointHelper p2p;
    p2p.SetDeviceAttribute("DataRate", DataRateValue(DataRate(uint64_t(rateMbps * 1e6 * ppp))));
    p2p.SetChannelAttribute("Delay", TimeValue(MicroSeconds(delayUs)));
    p2p.SetQueue("ns3::DropTailQueue", "MaxSize", StringValue(std::to_string(nicQueuePkts) + "p"));

    TrafficControlHelper red;
    red.SetRootQueueDisc("ns3::RedQueueDisc");
    TrafficControlHelper none;
    Ipv4AddressHelper addr;
    for (uint32_t i = 0; i < senders; i++)
    {
        NetDeviceContainer d = p2p.Install(hosts.Get(i), sw);
        char net[32];
        std::snprintf(net, sizeof net, "10.%u.%u.0", 1 + i / 256, i % 256);
        addr.SetBase(net, "255.255.255.0");
        addr.Assign(d);
        none.Uninstall(d);
        red.Install(d); // every port marks, as every port of the testbed's star
    }
    NetDeviceContainer rd = p2p.Install(sw, rx);
    addr.SetBase("10.200.0.0", "255.255.255.0");
    Ipv4InterfaceContainer ri = addr.Assign(rd);
    none.Uninstall(rd);
    QueueDiscContainer bq = red.Install(rd);
    Ipv4GlobalRoutingHelper::PopulateRoutingTables();
    bq.Get(0)->TraceConnectWithoutContext("PacketsInQueue", MakeCallback(&OnQueue));

    Ptr<UniformRandomVariable> u = CreateObject<UniformRandomVariable>();
    double firstStart = 1e9;
    g_done.assign(senders, -1);
    g_timeouts.assign(senders, 0);
    g_rtx.assign(senders, 0);
    g_highest.assign(senders, 0);
    for (uint32_t i = 0; i < senders; i++)
    {
        uint16_t port = 5000 + i;
        PacketSinkHelper sink("ns3::TcpSocketFactory", InetSocketAddress(Ipv4Address::GetAny(), port));
        ApplicationContainer sa = sink.Install(rx);
        sa.Start(Seconds(0));
        Ptr<PacketSink> ps = DynamicCast<PacketSink>(sa.Get(0));
        g_sinks.push_back(ps);
        ps->TraceConnectWithoutContext("Rx", MakeBoundCallback(&OnRx, i));
        BulkSendHelper src("ns3::TcpSocketFactory", InetSocketAddress(ri.GetAddress(1), port));
        src.SetAttribute("MaxBytes", UintegerValue(g_flowBytes));
        src.SetAttribute("SendSize", UintegerValue(mss));
        ApplicationContainer ca = src.Install(hosts.Get(i));
        double start = 1e-3 + u->GetValue(0, jitterUs) * 1e-6;
        firstStart = std::min(firstStart, start);
        ca.Start(Seconds(start));
        g_sources.push_back(ca.Get(0));
        Simulator::Schedule(Seconds(start) + NanoSeconds(1), &HookOne, i);
    }
    Simulator::Stop(Seconds(2));
    Simulator::Run();

    QueueDisc::Stats s = bq.Get(0)->GetStats();
    double last = 0;
    uint32_t unfinished = 0;
    uint64_t to = 0, rtx = 0;
    for (uint32_t i = 0; i < senders; i++)
    {
        if (g_done[i] < 0)
        {
            unfinished++;
        }
        last = std::max(last, g_done[i]);
        to += g_timeouts[i];
        rtx += g_rtx[i];
    }
    std::printf("senders %u\n", senders);
    std::printf("ce_marks %lu\n", (unsigned long)s.GetNMarkedPackets(RedQueueDisc::FORCED_MARK) +
                                      (unsigned long)s.GetNMarkedPackets(RedQueueDisc::UNFORCED_MARK));
    std::printf("drops %lu\n", (unsigned long)s.nTotalDroppedPackets);
    std::printf("retransmits %lu\n", (unsigned long)rtx);
    std::printf("timeouts %lu\n", (unsigned long)to);
    std::printf("unfinished %u\n", unfinished);
    std::printf("completion_span_ms %.4f\n", (last - firstStart) * 1e3);
    std::printf("min_cwnd_bytes %u\n", g_minCwnd);
    std::printf("max_qdisc_packets %u\n", g_maxQueue);
    Simulator::Destroy();
    return 0;
}
