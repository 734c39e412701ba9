// Built-in texts for tok-eval: one short sample per kind of text the original compares (news, Korean,
// code, math, science). Written for this project; the original's literal texts are not reproduced,
// so ratios are comparable between tokenizers here, not digit-for-digit with the original's table.
#pragma once
#include <string_view>
#include <utility>

namespace nanochat::app {

inline constexpr std::pair<std::string_view, std::string_view> kTokEvalTexts[] = {
    {"news", R"TXT(CITY HALL, March 4 — The regional water authority announced on Tuesday that it will spend $48.5 million over the next three years to replace aging pipes in four districts, after a winter in which crews repaired more than 1,200 breaks. "We have been patching the same mains since 1987," said the authority's director, Maria Okafor, at a press conference. "This plan lets us stop reacting and start planning." Residents in the affected neighborhoods can expect short, scheduled interruptions beginning in May; notices will be mailed at least 72 hours in advance. The council approved the funding by a vote of 9 to 2, with the two dissenting members arguing that the cost should be shared with the state. A public meeting on the work schedule is set for April 17 at 6:30 p.m. in the library's main hall.)TXT"},
    {"korean", R"TXT(오늘 아침 서울의 기온은 영하 5도까지 내려갔으며, 기상청은 주말까지 추위가 이어질 것이라고 밝혔다. 시민들은 두꺼운 외투와 목도리로 몸을 감싸고 출근길에 나섰다. 한편 지하철 운영사는 한파에 대비해 주요 역의 난방을 강화하고, 노약자를 위한 임시 쉼터를 마련했다고 전했다. 전문가들은 실내외 온도 차가 큰 만큼 건강 관리에 각별히 주의해야 한다고 당부했다.)TXT"},
    {"code", R"TXT(class RunningMean {
 public:
  // Welford's update keeps the mean numerically stable for long streams.
  void add(double x) {
    ++count_;
    const double delta = x - mean_;
    mean_ += delta / static_cast<double>(count_);
    m2_ += delta * (x - mean_);
  }
  double mean() const { return mean_; }
  double variance() const { return count_ > 1 ? m2_ / static_cast<double>(count_ - 1) : 0.0; }

 private:
  long count_ = 0;
  double mean_ = 0.0, m2_ = 0.0;
};

int main() {
  RunningMean m;
  for (int i = 1; i <= 10; ++i) m.add(i * 0.5);
  std::printf("mean=%.3f var=%.3f\n", m.mean(), m.variance());
  return 0;
})TXT"},
    {"math", R"TXT(\begin{theorem}
For every integer $n \ge 1$, $\displaystyle\sum_{k=1}^{n} (2k-1) = n^2$.
\end{theorem}
\begin{proof}
We argue by induction on $n$. For $n = 1$ the sum is $1 = 1^2$. Suppose the identity holds for some $n \ge 1$. Then
\[
  \sum_{k=1}^{n+1} (2k-1) = \sum_{k=1}^{n} (2k-1) + (2(n+1)-1) = n^2 + 2n + 1 = (n+1)^2,
\]
which is the claim for $n+1$. By induction the identity holds for all $n \ge 1$.
\end{proof}
Geometrically, adding the $n$-th odd number $2n-1$ to an $(n-1)\times(n-1)$ square completes an $n \times n$ square.)TXT"},
    {"science", R"TXT(Mitochondria generate most of a cell's supply of adenosine triphosphate (ATP) through oxidative phosphorylation. Electrons from NADH and FADH2 pass along a chain of protein complexes embedded in the inner membrane, and the energy released pumps protons into the intermembrane space. The resulting electrochemical gradient drives ATP synthase, a rotary enzyme that joins ADP and inorganic phosphate. Because oxygen is the final electron acceptor, cells deprived of oxygen must fall back on glycolysis, which yields only two ATP per molecule of glucose instead of roughly thirty.)TXT"},
};

}  // namespace nanochat::app
