// ns-3 peer of scenarios/dumbbell.toml (this project's own program, for comparisons only; not
// part of CI). N bulk TCP flows, sender i -> R1 -> (bottleneck) -> R2 -> receiver i.
//
// Defaults match the testbed's dumbbell and transport defaults:
//   access links 1000 Mbit/s, 500 us; bottleneck 96 Mbit/s, 9 ms (base RTT 20 ms);
//   bottleneck buffer 160 packets of 1500 B (our limit_bytes = 240000; in bytes, so small SYNs
//   fit where data does not, as ours; --byteQueue=false counts packets) counted as
//   qdisc (buffer - 1) + NIC queue 1, so that, as in the testbed, 160 packets wait and one is on
//   the wire; MSS 1460 with TCP timestamps off (1500-byte IP packets, as ours: 40 B headers);
//   the PPP header's 2 bytes are compensated by a bottleneck rate of 96 * 1502/1500 Mbit/s so a
//   data packet takes exactly 125 us, as ours; SACK on; an ACK per segment (DelAckCount 1); IW 10;
//   min RTO 200 ms; initial RTO 1 s; PRR recovery; the sender never gives up (DataRetries).
//
// Prints one `key value` line per figure (see peers/ns3/README.md). `--cwndFile=F` writes every
// flow's congestion window every `--cwndSampleMs` as `time_s,flow,cwnd_bytes`.

#include "ns3/applications-module.h"
#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/network-module.h"
#include "ns3/point-to-point-module.h"
#include "ns3/traffic-control-module.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <vector>

using namespace ns3;

namespace
{

struct FlowStat
{
    uint64_t dataSegs = 0;    // data segments transmitted (incl. retransmissions)
    uint64_t rtxSegs = 0;     // of which retransmissions (sequence below the highest sent)
    uint32_t highest = 0;     // highest sequence end sent (relative to ISN 0)
    bool seenFirst = false;
    uint32_t isn = 0;
    uint64_t timeouts = 0;    // transitions into CA_LOSS
    uint64_t recoveries = 0;  // transitions into CA_RECOVERY
    uint64_t rtoFirings = 0;  // retransmission timer expiries (the RTO doubled)
    uint32_t cwnd = 0;        // latest congestion window
    double cwndSum = 0;       // sum of sampled cwnds (segments)
    uint64_t cwndSamples = 0;
};

std::vector<FlowStat> g_flows;
std::vector<Ptr<PacketSink>> g_sinks;
std::vector<Ptr<Application>> g_sources;
std::ofstream g_cwndOut;
int64_t g_debugFlow = -1;
uint32_t g_mss = 1460;
uint64_t g_cwndHist[8] = {0}; // sampled cwnd in segments: <2, <3, <4, <6, <10, <20, <50, >=50

void
OnTx(uint32_t i, Ptr<const Packet> p, const TcpHeader& h, Ptr<const TcpSocketBase>)
{
    uint32_t len = p->GetSize();
    if (len == 0)
    {
        return;
    }
    FlowStat& f = g_flows[i];
    uint32_t seq = h.GetSequenceNumber().GetValue();
    if (!f.seenFirst)
    {
        f.seenFirst = true;
        f.isn = seq;
    }
    uint32_t rel = seq - f.isn;
    if (int64_t(i) == g_debugFlow)
    {
        std::printf("debug %.6f tx seq %u len %u\n", Simulator::Now().GetSeconds(), rel, len);
    }
    f.dataSegs++;
    if (rel + len <= f.highest)
    {
        f.rtxSegs++;
    }
    f.highest = std::max(f.highest, rel + len);
}

void
OnCongState(uint32_t i, TcpSocketState::TcpCongState_t old, TcpSocketState::TcpCongState_t now)
{
    if (int64_t(i) == g_debugFlow)
    {
        std::printf("debug %.6f state %d -> %d\n", Simulator::Now().GetSeconds(), int(old), int(now));
    }
    if (now == TcpSocketState::CA_LOSS)
    {
        g_flows[i].timeouts++;
    }
    else if (now == TcpSocketState::CA_RECOVERY)
    {
        g_flows[i].recoveries++;
    }
}

void
OnCwnd(uint32_t i, uint32_t, uint32_t now)
{
    g_flows[i].cwnd = now;
}

void
OnRto(uint32_t i, Time old, Time now)
{
    if (int64_t(i) == g_debugFlow)
    {
        std::printf("debug %.6f rto %.4f -> %.4f\n", Simulator::Now().GetSeconds(), old.GetSeconds(), now.GetSeconds());
    }
    // ns-3 backs off with m_rto = min(2 m_rto, 60 s) on every expiry; RTT updates never double
    // the RTO exactly (it is at least MinRto and moves by estimator steps).
    if (now == old * 2 || (now == Seconds(60) && old > Seconds(30)))
    {
        g_flows[i].rtoFirings++;
    }
}

uint64_t g_dropsAtWarmup = 0;
uint64_t g_rtxAtWarmup = 0;
Ptr<QueueDisc> g_bnQdisc;

void
AtWarmup()
{
    g_dropsAtWarmup = g_bnQdisc->GetStats().nTotalDroppedPackets;
    for (auto& f : g_flows)
    {
        g_rtxAtWarmup += f.rtxSegs;
    }
}

void
Hook(uint32_t i)
{
    {
        Ptr<Socket> s = DynamicCast<BulkSendApplication>(g_sources[i])->GetSocket();
        Ptr<TcpSocketBase> t = DynamicCast<TcpSocketBase>(s);
        NS_ABORT_MSG_IF(!t, "no TCP socket for flow " << i);
        t->TraceConnectWithoutContext("Tx", MakeBoundCallback(&OnTx, i));
        t->TraceConnectWithoutContext("CongState", MakeBoundCallback(&OnCongState, i));
        t->TraceConnectWithoutContext("CongestionWindow", MakeBoundCallback(&OnCwnd, i));
        t->TraceConnectWithoutContext("RTO", MakeBoundCallback(&OnRto, i));
    }
}

void
SampleCwnd(Time every, Time warmup)
{
    double now = Simulator::Now().GetSeconds();
    for (uint32_t i = 0; i < g_flows.size(); i++)
    {
        FlowStat& f = g_flows[i];
        if (Simulator::Now() >= warmup)
        {
            double segs = double(f.cwnd) / g_mss;
            f.cwndSum += segs;
            f.cwndSamples++;
            int b = segs < 2 ? 0 : segs < 3 ? 1 : segs < 4 ? 2 : segs < 6 ? 3 : segs < 10 ? 4 : segs < 20 ? 5 : segs < 50 ? 6 : 7;
            g_cwndHist[b]++;
        }
        if (g_cwndOut.is_open())
        {
            g_cwndOut << now << "," << i << "," << f.cwnd << "\n";
        }
    }
    Simulator::Schedule(every, &SampleCwnd, every, warmup);
}

} // namespace

int
main(int argc, char* argv[])
{
    uint32_t flows = 1;
    double duration = 60.0;
    double bottleneckMbps = 96.0;
    double bottleneckDelayUs = 9000.0;
    double accessMbps = 1000.0;
    double accessDelayUs = 500.0;
    uint32_t bufferPkts = 160;
    uint32_t nicQueuePkts = 1;
    bool byteQueue = true;
    bool compensatePpp = true;
    uint32_t mss = 1460;
    bool timestamps = false;
    double loss = 0.0;
    bool lossBothWays = true;
    std::string recovery = "prr";
    std::string cc = "ns3::TcpNewReno";
    uint32_t delAck = 1;
    uint32_t initCwnd = 10;
    double minRtoMs = 200.0;
    double initRtoMs = 1000.0;
    double firstRttMs = -1;
    bool limitedTransmit = true;
    bool sack = true;
    uint32_t seed = 1;
    double warmup = 5.0;
    double stagger = 0.0;
    double cwndSampleMs = 10.0;
    std::string cwndFile;
    std::string perFlowFile;

    CommandLine cmd(__FILE__);
    cmd.AddValue("flows", "number of sender/receiver pairs (one bulk flow each)", flows);
    cmd.AddValue("duration", "simulated seconds", duration);
    cmd.AddValue("bottleneckMbps", "bottleneck rate", bottleneckMbps);
    cmd.AddValue("bottleneckDelayUs", "bottleneck one-way delay", bottleneckDelayUs);
    cmd.AddValue("accessMbps", "access link rate", accessMbps);
    cmd.AddValue("accessDelayUs", "access link one-way delay", accessDelayUs);
    cmd.AddValue("bufferPkts",
                 "bottleneck packets waiting (qdisc bufferPkts - nicQueuePkts + NIC nicQueuePkts)",
                 bufferPkts);
    cmd.AddValue("nicQueuePkts", "bottleneck NIC (device) queue, packets", nicQueuePkts);
    cmd.AddValue("byteQueue",
                 "limit the queue disc in bytes, (bufferPkts - nicQueuePkts) x 1500, as the "
                 "testbed's limit_bytes (a SYN or ACK then fits where a data packet does not); "
                 "false: in packets",
                 byteQueue);
    cmd.AddValue("compensatePpp", "scale link rates by 1502/1500 (PPP header)", compensatePpp);
    cmd.AddValue("mss", "TCP segment size", mss);
    cmd.AddValue("timestamps", "TCP timestamps option", timestamps);
    cmd.AddValue("loss", "i.i.d. packet loss probability on the bottleneck", loss);
    cmd.AddValue("lossBothWays", "apply --loss to the ACK direction too (as the testbed)", lossBothWays);
    cmd.AddValue("recovery", "prr or classic", recovery);
    cmd.AddValue("cc", "congestion control TypeId", cc);
    cmd.AddValue("delAck", "TcpSocket::DelAckCount", delAck);
    cmd.AddValue("initCwnd", "initial window, segments", initCwnd);
    cmd.AddValue("minRtoMs", "minimum RTO", minRtoMs);
    cmd.AddValue("initRtoMs", "initial RTO (SYN timeout)", initRtoMs);
    cmd.AddValue("firstRttMs",
                 "RttEstimator::InitialEstimation, i.e. the RTT estimate before the first data "
                 "ACK (ns-3 takes no sample from the SYN-ACK without timestamps, and starts data "
                 "with RTO = 3 x this); default: the base RTT, as the testbed's first sample "
                 "from the SYN-ACK; set it to initRtoMs / 3 for ns-3's own behaviour",
                 firstRttMs);
    cmd.AddValue("limitedTransmit", "RFC 3042 limited transmit", limitedTransmit);
    cmd.AddValue("sack", "SACK", sack);
    cmd.AddValue("seed", "RNG run number (loss draws)", seed);
    cmd.AddValue("warmup", "cwnd statistics and *_after_warmup start after this many seconds", warmup);
    cmd.AddValue("stagger", "flow i starts at i * stagger seconds (the testbed's stagger_s)", stagger);
    cmd.AddValue("cwndSampleMs", "cwnd sampling interval", cwndSampleMs);
    cmd.AddValue("cwndFile", "write sampled cwnds here (csv)", cwndFile);
    cmd.AddValue("debugFlow", "print this flow's transmissions, RTO and state changes", g_debugFlow);
    cmd.AddValue("perFlowFile", "write per-flow results here (csv)", perFlowFile);
    cmd.Parse(argc, argv);

    RngSeedManager::SetSeed(1);
    RngSeedManager::SetRun(seed);
    g_mss = mss;

    Config::SetDefault("ns3::TcpL4Protocol::SocketType", StringValue(cc));
    Config::SetDefault("ns3::TcpL4Protocol::RecoveryType",
                       TypeIdValue(recovery == "prr" ? TcpPrrRecovery::GetTypeId()
                                                     : TcpClassicRecovery::GetTypeId()));
    Config::SetDefault("ns3::TcpSocket::SegmentSize", UintegerValue(mss));
    Config::SetDefault("ns3::TcpSocket::InitialCwnd", UintegerValue(initCwnd));
    Config::SetDefault("ns3::TcpSocket::DelAckCount", UintegerValue(delAck));
    Config::SetDefault("ns3::TcpSocket::SndBufSize", UintegerValue(64 << 20));
    Config::SetDefault("ns3::TcpSocket::RcvBufSize", UintegerValue(64 << 20));
    Config::SetDefault("ns3::TcpSocket::ConnTimeout", TimeValue(MilliSeconds(initRtoMs)));
    Config::SetDefault("ns3::TcpSocket::ConnCount", UintegerValue(1000000));
    Config::SetDefault("ns3::TcpSocket::DataRetries", UintegerValue(1000000));
    Config::SetDefault("ns3::TcpSocketBase::MinRto", TimeValue(MilliSeconds(minRtoMs)));
    Config::SetDefault("ns3::TcpSocketBase::Sack", BooleanValue(sack));
    Config::SetDefault("ns3::TcpSocketBase::Timestamp", BooleanValue(timestamps));
    Config::SetDefault("ns3::TcpSocketBase::LimitedTransmit", BooleanValue(limitedTransmit));
    if (firstRttMs < 0)
    {
        firstRttMs = 2 * (2 * accessDelayUs + bottleneckDelayUs) / 1000.0;
    }
    Config::SetDefault("ns3::RttEstimator::InitialEstimation", TimeValue(MicroSeconds(firstRttMs * 1000)));

    double ppp = compensatePpp ? 1502.0 / 1500.0 : 1.0;

    NodeContainer senders;
    NodeContainer receivers;
    NodeContainer routers;
    senders.Create(flows);
    receivers.Create(flows);
    routers.Create(2);

    InternetStackHelper stack;
    stack.InstallAll();

    PointToPointHelper access;
    access.SetDeviceAttribute("DataRate", DataRateValue(DataRate(uint64_t(accessMbps * 1e6 * ppp))));
    access.SetChannelAttribute("Delay", TimeValue(MicroSeconds(accessDelayUs)));
    // Access ports: as the testbed's default, drop-tail of 1000 packets (never full here).
    access.SetQueue("ns3::DropTailQueue", "MaxSize", StringValue("1000p"));

    PointToPointHelper bottleneck;
    bottleneck.SetDeviceAttribute("DataRate",
                                  DataRateValue(DataRate(uint64_t(bottleneckMbps * 1e6 * ppp))));
    bottleneck.SetChannelAttribute("Delay", TimeValue(MicroSeconds(bottleneckDelayUs)));
    bottleneck.SetQueue("ns3::DropTailQueue",
                        "MaxSize",
                        StringValue(std::to_string(nicQueuePkts) + "p"));
    NetDeviceContainer bnDevs = bottleneck.Install(routers.Get(0), routers.Get(1));

    Ipv4AddressHelper addr;
    std::vector<Ipv4Address> rxAddrs;
    std::vector<NetDeviceContainer> accessDevs;
    for (uint32_t i = 0; i < flows; i++)
    {
        NetDeviceContainer l = access.Install(senders.Get(i), routers.Get(0));
        NetDeviceContainer r = access.Install(routers.Get(1), receivers.Get(i));
        char net[32];
        std::snprintf(net, sizeof net, "10.%u.%u.0", 1 + i / 256, i % 256);
        addr.SetBase(net, "255.255.255.0");
        addr.Assign(l);
        std::snprintf(net, sizeof net, "10.%u.%u.0", 100 + i / 256, i % 256);
        addr.SetBase(net, "255.255.255.0");
        Ipv4InterfaceContainer ri = addr.Assign(r);
        rxAddrs.push_back(ri.GetAddress(1));
        accessDevs.push_back(l);
        accessDevs.push_back(r);
    }
    // The bottleneck's addresses, then its queue discs: a FIFO of bufferPkts - nicQueuePkts packets
    // in each direction (both directions have the same limit in the testbed).
    addr.SetBase("10.250.0.0", "255.255.255.0");
    addr.Assign(bnDevs);
    TrafficControlHelper none;
    none.Uninstall(bnDevs);
    TrafficControlHelper fifo;
    uint32_t qdiscPkts = bufferPkts > nicQueuePkts ? bufferPkts - nicQueuePkts : 1;
    fifo.SetRootQueueDisc("ns3::FifoQueueDisc",
                          "MaxSize",
                          StringValue(byteQueue ? std::to_string(qdiscPkts * 1500) + "B"
                                                : std::to_string(qdiscPkts) + "p"));
    QueueDiscContainer qdiscs = fifo.Install(bnDevs);
    Ipv4GlobalRoutingHelper::PopulateRoutingTables();

    if (loss > 0)
    {
        Ptr<RateErrorModel> fwd = CreateObject<RateErrorModel>();
        fwd->SetAttribute("ErrorUnit", StringValue("ERROR_UNIT_PACKET"));
        fwd->SetAttribute("ErrorRate", DoubleValue(loss));
        bnDevs.Get(1)->SetAttribute("ReceiveErrorModel", PointerValue(fwd));
        if (lossBothWays)
        {
            Ptr<RateErrorModel> rev = CreateObject<RateErrorModel>();
            rev->SetAttribute("ErrorUnit", StringValue("ERROR_UNIT_PACKET"));
            rev->SetAttribute("ErrorRate", DoubleValue(loss));
            bnDevs.Get(0)->SetAttribute("ReceiveErrorModel", PointerValue(rev));
        }
    }

    uint16_t port = 5201;
    g_flows.resize(flows);
    for (uint32_t i = 0; i < flows; i++)
    {
        PacketSinkHelper sink("ns3::TcpSocketFactory", InetSocketAddress(Ipv4Address::GetAny(), port));
        ApplicationContainer sa = sink.Install(receivers.Get(i));
        sa.Start(Seconds(0));
        g_sinks.push_back(DynamicCast<PacketSink>(sa.Get(0)));
        BulkSendHelper src("ns3::TcpSocketFactory", InetSocketAddress(rxAddrs[i], port));
        src.SetAttribute("MaxBytes", UintegerValue(0));
        src.SetAttribute("SendSize", UintegerValue(mss * 64));
        ApplicationContainer ca = src.Install(senders.Get(i));
        ca.Start(Seconds(i * stagger));
        g_sources.push_back(ca.Get(0));
        Simulator::Schedule(Seconds(i * stagger) + NanoSeconds(1), &Hook, i);
    }
    g_bnQdisc = qdiscs.Get(0);
    Simulator::Schedule(Seconds(warmup), &AtWarmup);
    if (!cwndFile.empty())
    {
        g_cwndOut.open(cwndFile);
        g_cwndOut << "time_s,flow,cwnd_bytes\n";
    }
    Simulator::Schedule(MilliSeconds(cwndSampleMs), &SampleCwnd, MilliSeconds(cwndSampleMs),
                        Seconds(warmup));

    Simulator::Stop(Seconds(duration));
    Simulator::Run();

    // Results.
    uint64_t goodput = 0;
    uint64_t segs = 0, rtx = 0, to = 0, rec = 0, rtos = 0;
    std::vector<double> g;
    double cwndMean = 0;
    for (uint32_t i = 0; i < flows; i++)
    {
        uint64_t b = g_sinks[i]->GetTotalRx();
        goodput += b;
        g.push_back(b * 8.0 / duration / 1e6);
        segs += g_flows[i].dataSegs;
        rtx += g_flows[i].rtxSegs;
        to += g_flows[i].timeouts;
        rec += g_flows[i].recoveries;
        rtos += g_flows[i].rtoFirings;
        if (g_flows[i].cwndSamples)
        {
            cwndMean += g_flows[i].cwndSum / g_flows[i].cwndSamples / flows;
        }
    }
    double sum = 0, sq = 0;
    uint32_t starved = 0;
    for (double x : g)
    {
        sum += x;
        sq += x * x;
        starved += x == 0;
    }
    QueueDisc::Stats fwd = qdiscs.Get(0)->GetStats();
    Ptr<PointToPointNetDevice> d0 = DynamicCast<PointToPointNetDevice>(bnDevs.Get(0));
    uint64_t nicDrops = d0->GetQueue()->GetTotalDroppedPackets();
    uint64_t otherDrops = 0;
    for (auto& c : accessDevs)
    {
        for (uint32_t k = 0; k < c.GetN(); k++)
        {
            otherDrops += DynamicCast<PointToPointNetDevice>(c.Get(k))->GetQueue()->GetTotalDroppedPackets();
        }
    }
    std::printf("flows %u\n", flows);
    std::printf("duration_s %.3f\n", duration);
    std::printf("goodput_mbps %.4f\n", goodput * 8.0 / duration / 1e6);
    std::printf("drops_bottleneck %lu\n", (unsigned long)(fwd.nTotalDroppedPackets + nicDrops));
    std::printf("drops_nic %lu\n", (unsigned long)nicDrops);
    std::printf("drops_elsewhere %lu\n", (unsigned long)otherDrops);
    std::printf("data_segments_sent %lu\n", (unsigned long)segs);
    std::printf("retransmits %lu\n", (unsigned long)rtx);
    std::printf("loss_state_entries %lu\n", (unsigned long)to);
    std::printf("recoveries %lu\n", (unsigned long)rec);
    std::printf("rto_firings %lu\n", (unsigned long)rtos);
    std::printf("drops_after_warmup %lu\n", (unsigned long)(fwd.nTotalDroppedPackets - g_dropsAtWarmup));
    std::printf("retransmits_after_warmup %lu\n", (unsigned long)(rtx - g_rtxAtWarmup));
    std::printf("goodput_min_mbps %.4f\n", *std::min_element(g.begin(), g.end()));
    std::printf("goodput_max_mbps %.4f\n", *std::max_element(g.begin(), g.end()));
    std::printf("jain %.4f\n", sum * sum / (flows * sq));
    std::printf("starved_flows %u\n", starved);
    std::printf("mean_cwnd_segs %.3f\n", cwndMean);
    const char* names[8] = {"<2", "<3", "<4", "<6", "<10", "<20", "<50", ">=50"};
    uint64_t tot = 0;
    for (uint64_t h : g_cwndHist)
    {
        tot += h;
    }
    std::printf("cwnd_hist");
    for (int k = 0; k < 8; k++)
    {
        std::printf(" %s:%.3f", names[k], tot ? double(g_cwndHist[k]) / tot : 0.0);
    }
    std::printf("\n");
    if (!perFlowFile.empty())
    {
        std::ofstream pf(perFlowFile);
        pf << "flow,goodput_mbps,retransmits,timeouts,recoveries,data_segments,rto_firings\n";
        for (uint32_t i = 0; i < flows; i++)
        {
            pf << i << "," << g[i] << "," << g_flows[i].rtxSegs << "," << g_flows[i].timeouts << ","
               << g_flows[i].recoveries << "," << g_flows[i].dataSegs << ","
               << g_flows[i].rtoFirings << "\n";
        }
    }
    Simulator::Destroy();
    return 0;
}
